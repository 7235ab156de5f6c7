"""Bad input to `nlpf predict | generate | translate | score | embed`: one `error:` line naming the file, line or
option, a hint, exit 2, the input untouched and no output written. An option the command would ignore is refused."""
from __future__ import annotations

import json
import os

import pytest

import framework
from framework.checkpoint import save_checkpoint
from framework.cli import main
from framework.errors import NlpfError
from tests.framework.inference.conftest import GPT, T5, make

BERT = ["model=bert_tiny", "tokenizer=byte"]


def save(pipe, path):
    save_checkpoint(path, pipe.model, pipe.config, pipe.tokenizer)
    return str(path)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    return {
        "gpt": save(make(GPT), root / "gpt"),
        "t5": save(make(T5), root / "t5"),
        "clf": save(make(BERT + ["head=sequence_classification", "objective=sequence_classification"],
                         labels=["neg", "pos"]), root / "clf"),
        "multi": save(make(BERT + ["head=sequence_classification", "objective=multi_label_classification"],
                           labels=["a", "b", "c"]), root / "multi"),
    }


def refused(args: list[str], capsys) -> str:
    """Run the command, check that it failed as a user error should, and return its one error line."""
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err and len(lines) == 2, captured.err
    assert lines[0].startswith("error: ") and lines[1].startswith("  hint: "), captured.err
    return lines[0] + "\n" + lines[1]


def files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------- output= is the input file

COMMANDS = {  # command -> (checkpoint, extra arguments)
    "predict": ("clf", []), "embed": ("clf", []), "score": ("gpt", []),
    "generate": ("gpt", ["max_new_tokens=2"]), "translate": ("t5", ["max_new_tokens=2"]),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("alias", ["same", "spelt differently", "symlink", "hard link"])
def test_an_output_that_is_the_input_file_is_refused_before_any_work(command, alias, ckpts, tmp_path, monkeypatch,
                                                                      capsys):
    def no_work(*args, **kwargs):
        raise AssertionError("the model was loaded before output= was checked")

    monkeypatch.setattr("framework.inference.commands._load", no_work)
    data = tmp_path / "in.txt"
    data.write_text("a good film\na bad one\n")
    output = {"same": data, "spelt differently": tmp_path / "." / ".." / tmp_path.name / "in.txt",
              "symlink": tmp_path / "link.txt", "hard link": tmp_path / "hard.txt"}[alias]
    if alias == "symlink":
        output.symlink_to(data)
    elif alias == "hard link":
        os.link(data, output)
    before = files(tmp_path)
    ckpt, extra = COMMANDS[command]
    said = refused([command, f"ckpt={ckpts[ckpt]}", f"input={data}", f"output={output}", *extra], capsys)
    assert said.startswith(f"error: output={output} is the input file"), said
    assert data.read_text() == "a good film\na bad one\n" and files(tmp_path) == before
    assert not (tmp_path / "link.txt").exists() or (tmp_path / "link.txt").is_symlink()


def test_an_output_beside_the_input_is_still_written(ckpts, tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_text("a good film\n")
    out = tmp_path / "in.txt.jsonl"
    assert main(["predict", f"ckpt={ckpts['clf']}", f"input={data}", f"output={out}"]) == 0
    assert len(out.read_text().splitlines()) == 1


# ---------------------------------------------------------------- malformed predict input

BAD_PREDICT_INPUTS = [
    ("in.jsonl", '{"text": "a"}\n[1, 2]\n', "in.jsonl, line 2: a JSON array, not an object or a text"),
    ("in.jsonl", '{"text": "a"}\nnull\n', "in.jsonl, line 2: a JSON null, not an object or a text"),
    ("in.jsonl", '{"text": "a"}\n\n{"text": null}\n', "in.jsonl, line 3: 'text' is null, not a text"),
    ("in.jsonl", '{"text": true}\n', "in.jsonl, line 1: 'text' is true, not a text"),
    ("in.jsonl", '{"text": ["a"]}\n', "in.jsonl, line 1: 'text' is [\"a\"], not a text"),
    ("in.csv", "text,label\nhello,pos,extra\nfoo\n", "in.csv, line 2: 3 columns but the header has 2 (text, label)"),
    ("in.csv", "text,label\nhello,pos\nfoo\n", "in.csv, line 3: 1 columns but the header has 2 (text, label)"),
    ("in.csv", 'text,label\nfine,pos\n"unclosed quote,pos\nfoo,neg\n',
     "in.csv, line 3: a quote opened in the row that starts on this line is never closed"),
    ("in.csv", 'text,label\nfoo,"pos\nbar,neg\n', "in.csv, line 2: a quote opened in the row"),
    ("in.tsv", "text\tlabel\nhello\tpos\textra\n", "in.tsv, line 2: 3 columns but the header has 2"),
    ("in.csv", "txt,lbl\nhello,pos\n", "in.csv, line 2: no field 'text' (fields: txt, lbl). Did you mean 'txt'?"),
]


@pytest.mark.parametrize("name, content, says", BAD_PREDICT_INPUTS)
def test_malformed_predict_input_names_the_file_and_line(name, content, says, ckpts, tmp_path, capsys):
    data = tmp_path / name
    data.write_text(content)
    out = tmp_path / "out.jsonl"
    said = refused(["predict", f"ckpt={ckpts['clf']}", f"input={data}", f"output={out}"], capsys)
    assert f"error: {data}" in said and says in said, said
    assert data.read_text() == content and files(tmp_path) == [name]


def test_csv_cells_that_are_quoted_properly_still_read(ckpts, tmp_path, capsys):
    data = tmp_path / "in.csv"
    data.write_text('text,label\n"a ""quoted"" word, and a comma",pos\n"two\nlines",neg\n\n')
    assert main(["predict", f"ckpt={ckpts['clf']}", f"input={data}"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = framework.load(ckpts["clf"]).predict(['a "quoted" word, and a comma', "two\nlines"])
    assert [r["label"] for r in rows] == [e["label"] for e in expected]
    assert [r["score"] for r in rows] == pytest.approx([e["score"] for e in expected])


def test_a_number_text_is_kept_as_written_as_training_reads_it(ckpts, tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": 5}\n')
    assert main(["predict", f"ckpt={ckpts['clf']}", f"input={data}"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["score"] == pytest.approx(framework.load(ckpts["clf"]).predict(["5"])[0]["score"])


def test_a_pair_field_that_is_given_must_be_there(ckpts, tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"text": "a", "hyp": "b"}) + "\n" + json.dumps({"text": "c"}) + "\n")
    said = refused(["predict", f"ckpt={ckpts['clf']}", f"input={data}", "pair_field=nope"], capsys)
    assert f"error: {data}, line 1: no field 'nope' (fields: text, hyp)" in said and "pair_field=" in said
    said = refused(["predict", f"ckpt={ckpts['clf']}", f"input={data}", "pair_field=hyp"], capsys)
    assert f"error: {data}, line 2: no field 'hyp'" in said


def test_a_pair_field_is_read_as_the_second_text(ckpts, tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"text": "a film", "hyp": "it was good"}) + "\n")
    assert main(["predict", f"ckpt={ckpts['clf']}", f"input={data}", "pair_field=hyp"]) == 0
    row = json.loads(capsys.readouterr().out)
    expected = framework.load(ckpts["clf"]).predict([{"text": "a film", "text_pair": "it was good"}])[0]
    assert row["score"] == pytest.approx(expected["score"])


@pytest.mark.parametrize("option, says", [
    ("threshold=0.5", "threshold= only applies to a multi-label classifier; this checkpoint is a sequence classifier"),
    ("max_answer_length=5", "max_answer_length= only applies to a question-answering model"),
    ("question_field=q", "question_field= only applies to a question-answering model"),
])
def test_an_option_the_checkpoints_task_does_not_use_is_refused(option, says, ckpts, tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_text("a good film\n")
    said = refused(["predict", f"ckpt={ckpts['clf']}", f"input={data}", option], capsys)
    assert says in said, said


def test_threshold_still_works_for_a_multi_label_classifier_and_top_k_does_not(ckpts, tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_text("a good film\n")
    assert main(["predict", f"ckpt={ckpts['multi']}", f"input={data}", "threshold=0.0"]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] != []
    said = refused(["predict", f"ckpt={ckpts['multi']}", f"input={data}", "top_k=2"], capsys)
    assert "top_k= only applies to a sequence classifier or a masked language model" in said


def test_the_python_api_refuses_unused_options_too(ckpts):
    pipe = framework.load(ckpts["clf"])
    with pytest.raises(NlpfError, match="threshold= only applies to a multi-label classifier"):
        pipe.predict(["a"], threshold=0.3)
    with pytest.raises(NlpfError, match="example 2: 'text' is null, not a text"):
        pipe.predict([{"text": "a"}, {"text": None}])


# ---------------------------------------------------------------- input= a directory


@pytest.mark.parametrize("command", COMMANDS)
def test_an_input_directory_is_named_as_input(command, ckpts, tmp_path, capsys):
    ckpt, extra = COMMANDS[command]
    said = refused([command, f"ckpt={ckpts[ckpt]}", f"input={tmp_path}", *extra], capsys)
    assert said.startswith(f"error: input={tmp_path} is a directory"), said


# ---------------------------------------------------------------- options that would be ignored


@pytest.mark.parametrize("args, says", [
    (["lm_weight=0.5"], "lm_weight= only applies to n-best rescoring (nbest=true)"),
    (["length_bonus=1", "lm_weight=0.2"], "length_bonus=, lm_weight= only apply to n-best rescoring"),
    (["nbest=true", "tokens=true"], "tokens= is for scoring texts; n-best rescoring (nbest=true) does not use it"),
])
def test_score_refuses_options_of_the_other_mode(args, says, ckpts, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("framework.inference.commands._load", lambda a: pytest.fail("loaded the model"))
    data = tmp_path / "in.txt"
    data.write_text("hello world\n")
    said = refused(["score", f"ckpt={ckpts['gpt']}", f"input={data}", *args], capsys)
    assert says in said, said


def test_an_empty_stop_string_is_refused(ckpts, capsys):
    said = refused(["generate", f"ckpt={ckpts['gpt']}", "prompt=hi", "stop="], capsys)
    assert "stop= is an empty string" in said and "leave stop= out" in said
    with pytest.raises(NlpfError, match="stop= is an empty string"):
        framework.load(ckpts["gpt"]).generate("hi", stop=["x", ""], max_new_tokens=2)


@pytest.mark.parametrize("ckpt, is_, hint", [
    ("clf", "is a sequence classifier (an encoder model)", "use `nlpf predict`"),
    ("gpt", "is a language model (decoder)", "use `nlpf generate`"),
])
def test_translate_says_what_the_checkpoint_is_and_which_command_fits(ckpt, is_, hint, ckpts, capsys):
    said = refused(["translate", f"ckpt={ckpts[ckpt]}", "prompt=hi"], capsys)
    assert "needs an encoder-decoder (seq2seq, such as T5) checkpoint" in said and is_ in said and hint in said, said


# ---------------------------------------------------------------- an empty input


@pytest.mark.parametrize("command, noun", [("predict", "predictions"), ("embed", "embeddings"), ("score", "scores"),
                                           ("generate", "generations")])
def test_an_empty_input_writes_an_empty_output_and_says_why(command, noun, ckpts, tmp_path, capsys):
    data = tmp_path / "empty.jsonl"
    data.write_text("")
    out = tmp_path / "out.jsonl"
    ckpt, extra = COMMANDS[command]
    assert main([command, f"ckpt={ckpts[ckpt]}", f"input={data}", f"output={out}", *extra]) == 0
    assert out.read_text() == ""
    assert capsys.readouterr().err == f"wrote 0 {noun} to {out} (the input '{data}' has no examples)\n"
