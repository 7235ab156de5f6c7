"""`nlpf predict | generate | translate | score` end to end on saved checkpoints."""
from __future__ import annotations

import json

import pytest

import framework
from framework.checkpoint import save_checkpoint
from framework.cli import main
from framework.errors import NlpfError
from tests.framework.inference.conftest import GPT, T5, make


def save(pipe, path):
    save_checkpoint(path, pipe.model, pipe.config, pipe.tokenizer)
    return str(path)


@pytest.fixture(scope="module")
def gpt_ckpt(tmp_path_factory):
    return save(make(GPT), tmp_path_factory.mktemp("ck") / "gpt")


@pytest.fixture(scope="module")
def t5_ckpt(tmp_path_factory):
    return save(make(T5), tmp_path_factory.mktemp("ck") / "t5")


@pytest.fixture(scope="module")
def clf_ckpt(tmp_path_factory):
    pipe = make(["model=bert_tiny", "tokenizer=byte", "head=sequence_classification",
                 "objective=sequence_classification"], labels=["neg", "pos"])
    return save(pipe, tmp_path_factory.mktemp("ck") / "clf")


def test_generate_prints_the_same_text_as_the_python_api(gpt_ckpt, capsys):
    assert main(["generate", f"ckpt={gpt_ckpt}", "prompt=Hello", "max_new_tokens=8"]) == 0
    printed = capsys.readouterr().out
    expected = framework.load(gpt_ckpt).generate("Hello", max_new_tokens=8)
    assert printed == expected + "\n"


def test_generate_file_to_jsonl_with_beams(gpt_ckpt, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\ntwo two\n")
    out = tmp_path / "out.jsonl"
    assert main(["generate", f"ckpt={gpt_ckpt}", f"input={prompts}", f"output={out}", "num_beams=3",
                 "num_return_sequences=2", "max_new_tokens=5"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["one", "two two"]
    assert all(len(r["generations"]) == 2 for r in rows)
    scores = [g["score"] for g in rows[0]["generations"]]
    assert scores == sorted(scores, reverse=True)


def test_a_prompt_too_long_for_the_position_table_names_its_input_line(gpt_ckpt, tmp_path, capsys):
    """The tiny GPT has 256 positions: a 250-byte prompt leaves room for 7 new tokens, not 8. The error names the
    line it came from (line 4: the blank line of the JSONL is skipped, so it is the third prompt), or its place in
    a Python list."""
    prompts = tmp_path / "prompts.jsonl"
    lines = [{"prompt": "short"}, {"prompt": "also short"}, None, {"prompt": "x" * 250}, {"prompt": "after"}]
    prompts.write_text("\n".join(json.dumps(r) if r else "" for r in lines) + "\n")
    assert main(["generate", f"ckpt={gpt_ckpt}", f"input={prompts}", "max_new_tokens=8", "batch_size=2"]) == 2
    err = capsys.readouterr().err
    assert f"{prompts}, line 4: the prompt (250 tokens) plus max_new_tokens=8" in err
    assert "set max_new_tokens to at most 7" in err
    text = tmp_path / "prompts.txt"
    text.write_text("short\n\n" + "y" * 250 + "\n")
    assert main(["generate", f"ckpt={gpt_ckpt}", f"input={text}", "max_new_tokens=8"]) == 2
    assert f"{text}, line 3: the prompt (250 tokens)" in capsys.readouterr().err
    with pytest.raises(NlpfError, match=r"^prompt 2: the prompt \(250 tokens\)"):
        framework.load(gpt_ckpt).generate(["short", "x" * 250, "a"], max_new_tokens=8)
    with pytest.raises(NlpfError, match=r"^the prompt \(250 tokens\)"):
        framework.load(gpt_ckpt).generate("x" * 250, max_new_tokens=8)


def test_translate_needs_a_seq2seq_checkpoint(gpt_ckpt, t5_ckpt, tmp_path, capsys):
    assert main(["translate", f"ckpt={gpt_ckpt}", "prompt=hi"]) == 2
    assert "encoder-decoder" in capsys.readouterr().err
    src = tmp_path / "src.jsonl"
    src.write_text(json.dumps({"source": "ein Haus", "id": "s1"}) + "\n")
    out = tmp_path / "t.jsonl"
    assert main(["translate", f"ckpt={t5_ckpt}", f"input={src}", f"output={out}", "num_beams=2",
                 "max_new_tokens=6"]) == 0
    row = json.loads(out.read_text())
    assert row["id"] == "s1" and row["text"] == framework.load(t5_ckpt).generate("ein Haus", num_beams=2,
                                                                                 max_new_tokens=6)


def test_argument_typos_get_suggestions(gpt_ckpt, capsys):
    assert main(["generate", f"ckpt={gpt_ckpt}", "prompt=a", "max_new_token=3"]) == 2
    err = capsys.readouterr().err
    assert "max_new_token" in err and "max_new_tokens" in err
    assert main(["score", f"ckpt={gpt_ckpt}", "input=x", "lm_wieght=1"]) == 2
    assert "lm_weight" in capsys.readouterr().err
    assert main(["predict", "ckpt=/nonexistent", "input=-"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_predict_cli_and_atomic_output(clf_ckpt, tmp_path, capsys):
    data = tmp_path / "in.csv"
    data.write_text("id,text\n1,good\n2,a much longer and very bad review\n3,ok\n")
    out = tmp_path / "pred.jsonl"
    assert main(["predict", f"ckpt={clf_ckpt}", f"input={data}", f"output={out}", "batch_size=2"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert all(r["label"] in ("neg", "pos") for r in rows)
    # an error half-way leaves the previous output untouched and no temporary file behind
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{broken\n')
    assert main(["predict", f"ckpt={clf_ckpt}", f"input={bad}", f"output={out}"]) == 2
    assert "line 2" in capsys.readouterr().err
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["1", "2", "3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "in.csv", "pred.jsonl"]


def test_predict_reads_stdin(clf_ckpt, monkeypatch, capsys):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"plain text line\n{\"text\": \"json\"}\n")))
    assert main(["predict", f"ckpt={clf_ckpt}", "input=-"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all("label" in r for r in rows)


def test_score_and_nbest_cli(gpt_ckpt, tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("hello\nworld wide\n")
    out = tmp_path / "s.jsonl"
    assert main(["score", f"ckpt={gpt_ckpt}", f"input={texts}", f"output={out}", "tokens=true"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["text"] == "hello" and len(rows[0]["token_logprobs"]) == rows[0]["num_tokens"]
    nbest = tmp_path / "nbest.jsonl"
    nbest.write_text(json.dumps({"id": "u", "hypotheses": [{"text": "x y", "score": -3}, {"text": "z", "score": -1}]}) + "\n")
    assert main(["score", f"ckpt={gpt_ckpt}", f"input={nbest}", f"output={out}", "nbest=true", "lm_weight=0"]) == 0
    row = json.loads(out.read_text())
    assert [h["text"] for h in row["hypotheses"]] == ["z", "x y"] and row["best"] == "z"


def test_broken_utf8_in_an_nbest_file_names_its_line(gpt_ckpt, tmp_path, capsys):
    nbest = tmp_path / "nbest.jsonl"
    nbest.write_bytes(b'{"id": 1, "hypotheses": [{"text": "a"}]}\n{"id": 2, "hypotheses": [{"text": "caf\xe9"}]}\n')
    assert main(["score", f"ckpt={gpt_ckpt}", f"input={nbest}", "nbest=true"]) == 2
    assert f"{nbest}, line 2: not valid UTF-8 (byte 0xe9)" in capsys.readouterr().err


def test_score_cli_eos_option(gpt_ckpt, tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    counts = {}
    for eos in ("true", "false"):
        out = tmp_path / f"s_{eos}.jsonl"
        assert main(["score", f"ckpt={gpt_ckpt}", f"input={texts}", f"output={out}", f"eos={eos}"]) == 0
        counts[eos] = json.loads(out.read_text())["num_tokens"]
    assert counts["true"] == counts["false"] + 1


def test_score_cli_refuses_a_seq2seq_target_without_its_source(t5_ckpt, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"source": "ein Haus", "target": "a house"}) + "\n" + json.dumps({"target": "x"}) + "\n")
    out = tmp_path / "s.jsonl"
    assert main(["score", f"ckpt={t5_ckpt}", f"input={pairs}", f"output={out}"]) == 2
    assert "no 'source'" in capsys.readouterr().err and not out.exists()  # no half-written output


@pytest.mark.parametrize("arg, stop", [
    ("stop= this", " this"),  # one stop string: kept exactly as typed, like prompt=
    ("stop=this ", "this "),
    ('stop=" this"', " this"),  # quoted: unquoted, as prompt= is
    ('stop="\\n"', "\n"),
    ('stop=[" this", "."]', [" this", "."]),  # a list
    ("stop=null", None),
])
def test_stop_argument_keeps_its_whitespace(arg, stop):
    from framework.inference.commands import parse_args
    from framework.inference.options import GenerateArgs

    assert parse_args(GenerateArgs, ["prompt=hi", arg]).stop == stop


def test_stop_strings_from_the_command_line_cut_like_the_python_api(gpt_ckpt, capsys):
    full = framework.load(gpt_ckpt).generate("Hello", max_new_tokens=12)
    stop = " " + full[3:5]  # a leading space that must not be lost
    expected = framework.load(gpt_ckpt).generate("Hello", max_new_tokens=12, stop=stop)
    assert main(["generate", f"ckpt={gpt_ckpt}", "prompt=Hello", "max_new_tokens=12", f"stop={stop}",
                 "stream=false"]) == 0
    assert capsys.readouterr().out == expected + "\n"


@pytest.mark.parametrize("arg, says", [('stop=["a", "b"', 'stop=["a", "b"'), ("num_beams=[2", "num_beams=[2")])
def test_a_malformed_list_argument_names_the_argument(gpt_ckpt, arg, says, capsys):
    assert main(["generate", f"ckpt={gpt_ckpt}", "prompt=hi", arg]) == 2
    err = capsys.readouterr().err
    assert says in err.splitlines()[0] and "YAML file" not in err and "hint:" in err


@pytest.mark.parametrize("command, args", [("generate", ["prompt=hi"]), ("translate", ["prompt=hi"]),
                                           ("score", ["input={file}"]), ("predict", ["input={file}"]),
                                           ("embed", ["input={file}"])])
@pytest.mark.parametrize("device, says", [("cuda", "device=cuda is not available"),
                                          ("cuda:7", "device=cuda:7 is not available"),
                                          ("gpu", "unknown device: device=gpu")])
def test_an_unavailable_device_is_refused_up_front(gpt_ckpt, tmp_path, monkeypatch, capsys, command, args, device,
                                                   says):
    import torch

    import framework.pipeline

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(framework.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("loaded the model"))
    (tmp_path / "in.txt").write_text("hello\n")
    args = [a.format(file=tmp_path / "in.txt") for a in args]
    assert main([command, f"ckpt={gpt_ckpt}", *args, f"device={device}"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert says in err[0] and "device=cpu" in err[1]


def test_load_refuses_an_unavailable_device(gpt_ckpt, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(framework.errors.NlpfError, match="device=cuda is not available"):
        framework.load(gpt_ckpt, device="cuda")
    with pytest.raises(framework.errors.NlpfError, match="unknown device"):
        framework.load(gpt_ckpt, device="gpu")
    assert str(framework.load(gpt_ckpt, device="cpu").device) == "cpu"


def test_several_sequences_a_prompt_are_numbered_on_the_terminal(gpt_ckpt, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\ntwo two\n")
    options = ["num_beams=3", "num_return_sequences=2", "max_new_tokens=5"]
    assert main(["generate", f"ckpt={gpt_ckpt}", f"input={prompts}", *options]) == 0
    texts = framework.load(gpt_ckpt).generate(["one", "two two"], num_beams=3, num_return_sequences=2,
                                              max_new_tokens=5)
    assert capsys.readouterr().out == "".join(f"[{i}.{k}] {t}\n" for i, hyps in enumerate(texts, 1)
                                              for k, t in enumerate(hyps, 1))
    # output=- : one JSON record a prompt on stdout, for programs
    assert main(["generate", f"ckpt={gpt_ckpt}", f"input={prompts}", *options, "output=-"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [[g["text"] for g in r["generations"]] for r in rows] == texts
    assert [r["prompt"] for r in rows] == ["one", "two two"]


# ---------------------------------------------------------------- output= files


def _output_commands(gpt_ckpt, clf_ckpt, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("a good film\na bad one\n")
    return {
        "generate": ["generate", f"ckpt={gpt_ckpt}", "prompt=hi", "max_new_tokens=2"],
        "score": ["score", f"ckpt={gpt_ckpt}", f"input={texts}"],
        "predict": ["predict", f"ckpt={clf_ckpt}", f"input={texts}"],
        "embed": ["embed", f"ckpt={clf_ckpt}", f"input={texts}"],
    }


@pytest.mark.parametrize("command", ["generate", "score", "predict", "embed"])
def test_output_files_get_the_umask_permissions_not_0600(command, gpt_ckpt, clf_ckpt, tmp_path, umask, capsys):
    import stat

    args = _output_commands(gpt_ckpt, clf_ckpt, tmp_path)[command]
    out = tmp_path / "out.jsonl"
    assert main([*args, f"output={out}"]) == 0, capsys.readouterr().err
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    out.chmod(0o640)  # a file that is replaced keeps its mode, as open(path, "w") keeps it
    assert main([*args, f"output={out}"]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "texts.txt"]


@pytest.mark.parametrize("command", ["generate", "translate", "score", "predict", "embed"])
@pytest.mark.parametrize("output, message, hint", [
    ("adir", "output={d}/adir is a directory", "output={d}/adir/out.jsonl"),
    ("no/such/out.jsonl", "cannot write output={d}/no/such/out.jsonl: the directory '{d}/no/such' does not exist",
     "create the directory"),
    ("afile/out.jsonl", "cannot write output={d}/afile/out.jsonl: '{d}/afile' is not a directory", "another output="),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(command, output, message, hint, gpt_ckpt,
                                                                     tmp_path, monkeypatch, capsys):
    def no_work(*args, **kwargs):
        raise AssertionError("the model was loaded before output= was checked")

    monkeypatch.setattr("framework.inference.commands._load", no_work)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    (tmp_path / "texts.txt").write_text("hi\n")
    source = ["prompt=hi"] if command in ("generate", "translate") else [f"input={tmp_path / 'texts.txt'}"]
    assert main([command, f"ckpt={gpt_ckpt}", *source, f"output={tmp_path / output}"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[0] == "error: " + message.format(d=tmp_path), err
    assert lines[1].startswith("  hint:") and hint.format(d=tmp_path) in lines[1] and len(lines) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile", "texts.txt"]
    assert list((tmp_path / "adir").iterdir()) == []


# ---------------------------------------------------------------- input records


@pytest.mark.parametrize("value, says", [(None, "null"), (True, "true"), (["a"], '["a"]')])
@pytest.mark.parametrize("command", ["generate", "score", "embed"])
def test_a_text_that_is_not_a_string_is_refused_not_read_as_none(command, value, says, gpt_ckpt, clf_ckpt, tmp_path,
                                                                  capsys):
    """{"text": null} used to be generated from, scored or embedded as the text 'None'."""
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": value}) + "\n")
    out = tmp_path / "out.jsonl"
    ckpt = clf_ckpt if command == "embed" else gpt_ckpt
    extra = ["max_new_tokens=2"] if command == "generate" else []
    assert main([command, f"ckpt={ckpt}", f"input={data}", f"output={out}", *extra]) == 2
    assert f"example 2: 'text' is {says}, not a text" in capsys.readouterr().err and not out.exists()


def test_a_number_is_kept_as_the_text_it_is_written_as(gpt_ckpt, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"text": 12}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["score", f"ckpt={gpt_ckpt}", f"input={data}", f"output={out}"]) == 0
    assert json.loads(out.read_text())["log_likelihood"] == framework.load(gpt_ckpt).score("12")["log_likelihood"]


def test_score_refuses_a_null_source_of_an_encoder_decoder(t5_ckpt, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"source": None, "target": "a house"}) + "\n")
    assert main(["score", f"ckpt={t5_ckpt}", f"input={pairs}"]) == 2
    assert "example 1: 'source' is null" in capsys.readouterr().err


def test_scoring_an_nbest_file_without_nbest_true_says_so(gpt_ckpt, tmp_path, capsys):
    nbest = tmp_path / "nbest.jsonl"
    nbest.write_text(json.dumps({"id": "u", "hypotheses": [{"text": "x y", "score": -3}]}) + "\n")
    assert main(["score", f"ckpt={gpt_ckpt}", f"input={nbest}"]) == 2
    assert "nbest=true" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["generate", "translate"])
def test_transformers_max_length_gets_max_new_tokens_not_length_penalty(command, gpt_ckpt, capsys):
    assert main([command, f"ckpt={gpt_ckpt}", "prompt=hi", "max_length=20"]) == 2
    err = capsys.readouterr().err
    assert "use max_new_tokens=N" in err and "length_penalty" not in err and "Traceback" not in err
