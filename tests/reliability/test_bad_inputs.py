"""The bad-input matrix: every case is a user mistake given to the `nlpf` command line. Each must end with
a non-zero exit, one `error:` line naming what is wrong (the key, file or value), a `hint:` line saying how to fix
it, no traceback, and nothing half-written: the working directory and the input files are as before.

Cases run in-process through `framework.cli.main` (the same code path as the console script; a few also run as
real subprocesses at the end). Placeholders in arguments: {fx} prepared input files, {ckpt} a tiny checkpoint,
{tmp} the test's working directory.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from framework import cli, plugins

TINY_MODEL = ["model.n_layer=1", "model.n_embd=32", "model.n_head=2", "model.n_positions=64", "max_length=32"]
QUICK = ["trainer.max_steps=1", "trainer.enable_progress_bar=false", "batch_size=4", *TINY_MODEL]
CLS = ["model=bert_tiny", "head=sequence_classification", "objective=sequence_classification",
       "trainer.max_steps=1", "trainer.enable_progress_bar=false", "max_length=32", "batch_size=4"]


@dataclass
class Case:
    id: str
    args: list[str]
    says: tuple[str, ...]  # all of these appear in the error line: what is wrong
    hint: str = ""  # appears in the hint line: how to fix it
    plugin: Optional[str] = None  # a third-party plugin to install for this case (see PLUGINS)


CASES = [
    # ---- config: keys, types, group options
    Case("unknown top-level key", ["train", "lerning_rate=0.1"], ("lerning_rate",), "valid keys at the top level"),
    Case("unknown key in a component", ["train", "model.n_layers=2"], ("model.n_layers", "n_layer"), ""),
    Case("unknown trainer key", ["train", "trainer.max_step=1"], ("trainer.max_step", "max_steps"), ""),
    Case("wrong type in a component", ["train", "model.n_layer=abc"], ("'abc'", "model.n_layer", "int"),
         "model.n_layer"),
    Case("wrong type at top level", ["train", "batch_size=many"], ("'many'", "batch_size", "int"), "batch_size"),
    Case("wrong type in trainer", ["train", "trainer.max_steps=ten"], ("trainer.max_steps", "int"), "trainer.max_steps"),
    Case("misspelt group option", ["train", "model=gpt_tinny"], ("gpt_tinny", "model", "gpt_tiny"), "gpt_tiny"),
    Case("misspelt data option", ["train", "data=csvv"], ("csvv", "data", "csv"), "available data options"),
    Case("unknown experiment", ["train", "experiment=nope"], ("nope", "experiment"), "available experiment options"),
    Case("unparsable override", ["train", "model=["], ("cannot parse override",), "key=value"),
    Case("unknown command", ["trian"], ("trian", "train"), "nlpf --help"),
    # ---- config: out-of-range values
    Case("negative learning rate", ["train", "optim.lr=-0.001", *QUICK], ("optim.lr", "-0.001", "> 0"), "optim.lr"),
    Case("zero batch size", ["train", "batch_size=0"], ("batch_size", ">= 1"), "batch_size"),
    Case("negative batch size", ["train", "batch_size=-4"], ("batch_size", "-4"), "batch_size"),
    Case("max_length beyond the position table", ["train", "max_length=1000"],
         ("max_length=1000", "model.n_positions=256"), "at most 256"),
    Case("dropout above 1", ["train", "model.dropout=1.5"], ("model.dropout", "1.5", "between 0 and 1"),
         "model.dropout"),
    Case("warmup_ratio above 1", ["train", "optim.warmup_ratio=1.5"], ("optim.warmup_ratio",), "[0, 1]"),
    Case("unknown precision", ["train", "trainer.precision=fp17"], ("trainer.precision", "fp17"), "bf16-mixed"),
    Case("float16 on the CPU", ["train", "trainer.precision=16-mixed", *QUICK], ("16-mixed", "GPU"), "bf16-mixed"),
    Case("unknown optimizer", ["train", "optim.name=adamww"], ("optim.name", "adamww", "adamw"), "sgd"),
    Case("unknown scheduler", ["train", "optim.scheduler=cosin"], ("optim.scheduler", "cosine"), "linear"),
    Case("unknown on_nan", ["train", "trainer.on_nan=ignore"], ("trainer.on_nan", "ignore"), "skip"),
    Case("bad devices", ["train", "trainer.devices=abc"], ("trainer.devices", "abc"), "trainer.devices=auto"),
    Case("max_time that is not a duration", ["train", "trainer.max_time=abc"], ("trainer.max_time", "DD:HH:MM:SS"),
         "trainer.max_time=00:12:00:00"),
    Case("unknown strategy", ["train", "trainer.strategy=foo", *QUICK], ("'foo'", "trainer.strategy", "unknown choice"),
         "ddp, ddp_spawn"),
    Case("a GPU accelerator without a GPU", ["train", "trainer.accelerator=gpu", *QUICK],
         ("trainer.accelerator=gpu", "no CUDA GPU"), "trainer=cpu") if not __import__("torch").cuda.is_available() else None,
    Case("heads do not divide the width", ["train", "model.n_head=5"], ("model.n_embd", "model.n_head=5"), ""),
    Case("splits leave no training data", ["train", "data.test_ratio=0.95"], ("data.test_ratio",), "test_ratio=0.1"),
    Case("masking probability above 1", ["train", "model=bert_tiny", "head=bert_mlm", "objective=masked_lm",
                                         "objective.mask_probability=2"], ("objective.mask_probability",), "[0, 1]"),
    Case("unknown logger", ["train", "trainer.loggers=[wandb]", *QUICK], ("wandb", "trainer.loggers"), "csv"),
    Case("objective that does not fit the architecture", ["train", "objective=masked_lm"],
         ("masked_lm", "gpt", "decoder"), "encoder"),
    Case("vocabulary smaller than the tokenizer", ["train", "model.vocab_size=100", *QUICK],
         ("model.vocab_size is 100",), "model.vocab_size=263"),
    # ---- config: code smuggling (refused as unknown keys; nothing is ever instantiated)
    Case("_target_ at top level", ["train", "+_target_=os.system"], ("_target_",), "top-level keys"),
    Case("_target_ inside a component", ["train", "+model._target_=os.system"], ("model._target_",), "n_layer"),
    Case("_target_ in a dict override", ["train", "model={_target_:os.system,name:gpt}"], ("_target_",),
         "only keys of the schemas"),
    Case("_target_ in an experiment file", ["train", "hydra.searchpath=[file://{fx}/conf]", "experiment=evil"],
         ("_target_",), ""),
    Case("broken YAML in an experiment file", ["train", "hydra.searchpath=[file://{fx}/conf]", "experiment=broken"],
         ("cannot parse the YAML file", "broken.yaml", "line 3"), "YAML syntax"),
    Case("interpolation of a missing key", ["train", "experiment_name=${nope}"], ("nope", "resolve"), "$${"),
    Case("a builder path as a component name", ["train", "model.name=os:system"], ("os:system", "architecture"),
         "registered architectures"),
    # ---- files of the run
    Case("run_dir below a file", ["train", "run_dir={fx}/ok.csv/run", *QUICK], ("run directory", "ok.csv"),
         "writable run_dir"),
    # ---- data
    Case("missing data file", ["train", "data=csv", "data.path={fx}/nope.csv", *CLS], ("data.path", "nope.csv"),
         "fix the path"),
    Case("empty CSV", ["train", "data=csv", "data.path={fx}/empty.csv", *CLS], ("empty",), "check the path"),
    Case("CSV with a header only", ["train", "data=csv", "data.path={fx}/header_only.csv", *CLS], ("empty",), ""),
    Case("wrong CSV column", ["train", "data=csv", "data.path={fx}/wrongcol.csv", *CLS],
         ("data.text_field", "wrongcol.csv"), "sentence"),
    Case("JSONL line without the field", ["train", "data=jsonl", "data.path={fx}/missing_field.jsonl", *CLS],
         ("data.text_field", "line 2", "txt"), "data.text_field="),
    Case("JSONL line that is not JSON", ["train", "data=jsonl", "data.path={fx}/broken.jsonl", *CLS],
         ("broken.jsonl:2", "JSON"), "one JSON object per line"),
    Case("broken UTF-8 in a CSV", ["train", "data=csv", "data.path={fx}/badutf8.csv", *CLS],
         ("badutf8.csv:2", "UTF-8"), "encoding_errors=replace"),
    Case("broken UTF-8 in a text corpus", ["train", "data=text", "data.path={fx}/badutf8.txt", *QUICK],
         ("badutf8.txt:1", "UTF-8"), "iconv"),
    Case("missing text corpus", ["train", "data=text", "data.path={fx}/nope.txt", *QUICK], ("nope.txt",), "path"),
    # ---- tokenizers
    Case("missing tokenizer path", ["train", "tokenizer=hf", "tokenizer.path={fx}/nope", *QUICK],
         ("tokenizer.path", "nope"), "tokenizer.json"),
    Case("a text file as sentencepiece model", ["train", "tokenizer=sentencepiece_unigram",
                                                "tokenizer.model_file={fx}/notmodel.model", *QUICK],
         ("tokenizer.model_file", "notmodel.model", "not a valid sentencepiece model"), ".model file"),
    Case("zero vocabulary size", ["train", "tokenizer=sentencepiece_unigram", "tokenizer.vocab_size=0"],
         ("tokenizer.vocab_size", "> 0"), "tokenizer.vocab_size"),
    Case("missing sentencepiece model", ["train", "tokenizer=sentencepiece_unigram",
                                         "tokenizer.model_file={fx}/nope.model", *QUICK],
         ("tokenizer.model_file", "nope.model"), "null to train"),
    Case("vocabulary larger than the corpus allows", ["tokenizer", "train", "tokenizer=sentencepiece_unigram",
                                                      "data=tiny_corpus", "out={tmp}/tok"],
         ("8000",), "tokenizer.vocab_size="),
    # ---- checkpoints
    Case("truncated safetensors", ["evaluate", "ckpt={fx}/truncated"], ("model.safetensors", "truncated"), ""),
    Case("foreign directory as ckpt", ["evaluate", "ckpt={fx}/foreign"], ("ckpt=", "foreign", "no nlpf checkpoint"),
         "checkpoint directory"),
    Case("Hugging Face directory as ckpt", ["predict", "ckpt={fx}/hfdir", "input={fx}/ok.csv"],
         ("hfdir", "not an nlpf checkpoint"), "nlpf import hf"),
    Case("missing ckpt directory", ["generate", "ckpt={fx}/nope", "prompt=hi"], ("nope", "does not exist"), "ckpt="),
    Case("weights that do not match the config", ["evaluate", "ckpt={fx}/mismatch"],
         ("do not match", "mismatch/model.safetensors", "missing"), "re-save"),
    Case("tokenizer larger than the model vocabulary", ["generate", "ckpt={fx}/vocab", "prompt=hi"],
         ("363 tokens", "vocab_size"), "another model"),
    Case("broken YAML in a checkpoint config", ["evaluate", "ckpt={fx}/broken_yaml"],
         ("broken_yaml/config.yaml", "line 2"), "YAML syntax"),
    Case("broken YAML in a checkpoint tokenizer", ["generate", "ckpt={fx}/broken_tok", "prompt=hi"],
         ("broken_tok/tokenizer/tokenizer.yaml",), "YAML syntax"),
    Case("init_from a truncated checkpoint", ["train", "init_from={fx}/truncated", *QUICK],
         ("truncated",), "save or import the checkpoint again"),
    Case("init_from a missing directory", ["train", "init_from={fx}/nope", *QUICK], ("init_from=", "nope"), "init_from=PATH"),
    Case("resume from a missing file", ["train", "resume={fx}/nope.ckpt", *QUICK], ("resume=", "nope.ckpt"),
         "resume=auto"),
    Case("resume from a truncated checkpoint", ["train", "resume={fx}/truncated.ckpt", *QUICK],
         ("truncated.ckpt", "not a complete Lightning checkpoint"), "checkpoints/lightning/last.ckpt"),
    Case("resume from a checkpoint carrying code", ["train", "resume={fx}/evil.ckpt", *QUICK],
         ("refusing to load", "evil.ckpt", "system"), "unknown origin"),
    Case("import a pickle carrying code", ["import", "hf", "{fx}/evil_hf", "{tmp}/imported"],
         ("pytorch_model.bin", "safely"), "weights_only"),
    # ---- other commands
    Case("predict with a missing input file", ["predict", "ckpt={ckpt}", "input={fx}/nope.txt"],
         ("input file", "nope.txt"), "input=-"),
    Case("predict into a missing directory", ["predict", "ckpt={ckpt}", "input={fx}/lines.txt",
                                              "output={tmp}/no/such/dir/out.jsonl"], ("no/such/dir",), "create"),
    Case("generate from a binary file", ["generate", "ckpt={ckpt}", "input={fx}/binary.bin"],
         ("binary.bin", "not valid UTF-8"), "iconv"),
    Case("import a broken config.json", ["import", "hf", "{fx}/hf_broken_json", "{tmp}/out"],
         ("hf_broken_json/config.json", "cannot parse"), "save_pretrained"),
    Case("import an unsupported model type", ["import", "hf", "{fx}/hf_llama", "{tmp}/out"], ("llama",), "gpt2"),
    Case("export into a directory of other files", ["export", "hf", "{ckpt}", "{fx}/foreign"],
         ("foreign", "notes.md"), "new or empty directory"),
    Case("generate with a misspelt option", ["generate", "ckpt={ckpt}", "prompt=hi", "temprature=0.5"],
         ("temprature", "temperature"), "valid arguments"),
    Case("generate with a wrong type", ["generate", "ckpt={ckpt}", "prompt=hi", "max_new_tokens=lots"],
         ("max_new_tokens", "int"), "max_new_tokens"),
    Case("generate past the position table", ["generate", "ckpt={ckpt}", "prompt=hi", "max_new_tokens=1000"],
         ("max_new_tokens=1000", "n_positions=64"), "at most"),
    Case("generate from a prompt longer than the position table", ["generate", "ckpt={ckpt}", "prompt=" + "x" * 80],
         ("prompt (80 tokens)", "n_positions=64"), "shorten the prompt to at most 33 tokens"),
    Case("generate one token past the position table", ["generate", "ckpt={ckpt}", "prompt=" + "x" * 60,
                                                        "max_new_tokens=6"],
         ("max_new_tokens=6", "needs 65 positions", "n_positions=64"), "max_new_tokens to at most 5"),
    Case("generate with a malformed stop list", ["generate", "ckpt={ckpt}", "prompt=hi", 'stop=["a", "b"'],
         ('stop=["a", "b"',), "stop='[\".\", \"!\"]'"),
    Case("generate with a malformed list argument", ["generate", "ckpt={ckpt}", "prompt=hi", "num_beams=[2"],
         ("num_beams=[2",), "brackets"),
    Case("generate on a GPU that is not there", ["generate", "ckpt={ckpt}", "prompt=hi", "device=cuda:99"],
         ("device=cuda:99", "not available"), "device="),
    Case("generate on an unknown device", ["generate", "ckpt={ckpt}", "prompt=hi", "device=gpu"],
         ("device=gpu",), "device=cpu"),
    Case("score on a GPU that is not there", ["score", "ckpt={ckpt}", "input={fx}/lines.txt", "device=cuda:99"],
         ("device=cuda:99", "not available"), "device="),
    Case("rescore a hypothesis whose text is a number", ["score", "ckpt={ckpt}", "input={fx}/nbest_int.jsonl",
                                                         "nbest=true"],
         ("nbest_int.jsonl, line 1", "hypothesis 0", "'text'", "5"), '"text": "..."'),
    Case("rescore a NaN first-pass score", ["score", "ckpt={ckpt}", "input={fx}/nbest_nan.jsonl", "nbest=true"],
         ("nbest_nan.jsonl, line 2", "non-finite score NaN"), "finite"),
    Case("rescore with a NaN lm_weight", ["score", "ckpt={ckpt}", "input={fx}/nbest_ok.jsonl", "nbest=true",
                                          "lm_weight=nan"], ("lm_weight", "finite"), "lm_weight"),
    Case("generate with a negative temperature", ["generate", "ckpt={ckpt}", "prompt=hi", "temperature=-1"],
         ("temperature",), "temperature"),
    Case("evaluate with a zero batch size", ["evaluate", "ckpt={ckpt}", "batch_size=0"], ("batch_size", "'0'"),
         "batch_size="),
    Case("evaluate beyond the position table", ["evaluate", "ckpt={ckpt}", "max_length=100000"],
         ("max_length=100000", "n_positions=64"), "at most 64"),
    Case("score with a zero batch size", ["score", "ckpt={ckpt}", "input={fx}/lines.txt", "batch_size=0"],
         ("batch_size", "> 0"), "batch_size"),
    Case("evaluate without ckpt", ["evaluate"], ("ckpt=PATH",), "checkpoint directory"),
    Case("evaluate an unknown split", ["evaluate", "ckpt={ckpt}", "split=dev"], ("'dev'", "split"), "validation"),
    Case("evaluate with an unknown argument", ["evaluate", "ckpt={ckpt}", "bogus=1"], ("bogus",), "ckpt=PATH"),
    Case("import hf from a directory without config.json", ["import", "hf", "{fx}/foreign", "{tmp}/out"],
         ("foreign", "config.json"), "save_pretrained"),
    Case("report of a missing run", ["report", "{fx}/nope"], ("nope", "does not exist"), "nlpf train"),
    # ---- plugins
    Case("a component of a plugin that failed to import", ["train", "model=ghost"], ("ghost", "model"),
         "nlpf_broken", plugin="broken"),
    Case("a plugin whose builder module is missing", ["train", "model=ghost", *QUICK[:3], "max_length=32"],
         ("ghost", "cannot import builder", "nlpf_ghost_impl"), "reinstall or fix the plugin", plugin="ghost"),
    Case("a plugin written for another API version", ["train", "model=future"], ("future", "model"),
         "incompatible", plugin="future"),
]

CASES = [c for c in CASES if c is not None]
assert len(CASES) >= 40


PLUGINS = {
    "broken": ("nlpf-broken", "nlpf_broken", "raise ImportError('needs torchtext')\n"),
    "ghost": ("nlpf-ghost", "nlpf_ghost", """
        from dataclasses import dataclass
        from pathlib import Path
        from framework.hookspecs import hookimpl

        @dataclass
        class GhostConfig:
            vocab_size: int = 300

        @hookimpl
        def nlpf_register(registries):
            registries.architecture.register("ghost", GhostConfig, "nlpf_ghost_impl:build", kind="decoder")

        @hookimpl
        def nlpf_config_dirs():
            return [str(Path(__file__).parent / "ghost_conf")]
        """),
    "future": ("nlpf-future", "nlpf_future", """
        from framework.hookspecs import hookimpl

        @hookimpl
        def nlpf_api_version():
            return 999
        """),
}


def install_plugin(root: Path, name: str) -> None:
    """A real distribution (module + dist-info with an nlpf.plugins entry point) on sys.path."""
    dist, module, source = PLUGINS[name]
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[nlpf.plugins]\n{module} = {module}\n")
    (root / "ghost_conf" / "model").mkdir(parents=True)
    (root / "ghost_conf" / "model" / "ghost.yaml").write_text("name: ghost\nvocab_size: 300\n")


def _bad_ckpt_file(path: Path) -> None:
    """A pickle that runs `touch MARKER` when unpickled without weights_only."""
    import torch

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {path.parent / 'PWNED'}",)

    torch.save({"epoch": 0, "global_step": 1, "state_dict": {}, "evil": Evil()}, path)


@pytest.fixture(scope="module")
def fx(tmp_path_factory, tiny_ckpt) -> Path:
    root = tmp_path_factory.mktemp("fx")
    (root / "ok.csv").write_text("text,label\ngood film,pos\nbad film,neg\n")
    (root / "lines.txt").write_text("one line\nanother line\n")
    (root / "wrongcol.csv").write_text("sentence,label\ngood film,pos\nbad film,neg\n")
    (root / "empty.csv").write_text("")
    (root / "header_only.csv").write_text("text,label\n")
    (root / "missing_field.jsonl").write_text('{"text": "a", "label": "x"}\n{"txt": "b", "label": "y"}\n')
    (root / "broken.jsonl").write_text('{"text": "a", "label": "x"}\n{"text": "b", "label"\n')
    (root / "badutf8.csv").write_bytes(b"text,label\ngood \xff\xfe film,pos\nbad film,neg\n")
    (root / "badutf8.txt").write_bytes(b"hello \xc3\x28 world\nmore text\n")
    (root / "nbest_ok.jsonl").write_text('{"id": 1, "hypotheses": [{"text": "a b", "score": -1.0}]}\n')
    (root / "nbest_int.jsonl").write_text('{"id": 1, "hypotheses": [{"text": 5, "score": -1.0}]}\n')
    (root / "nbest_nan.jsonl").write_text('{"id": 1, "hypotheses": [{"text": "a", "score": -1.0}]}\n'
                                          '{"id": 2, "hypotheses": [{"text": "b", "score": NaN}]}\n')
    (root / "notmodel.model").write_text("not a sentencepiece model\n")
    (root / "foreign").mkdir()
    (root / "foreign" / "notes.md").write_text("my notes\n")
    (root / "binary.bin").write_bytes(bytes(range(128, 256)) * 3)
    (root / "hf_broken_json").mkdir()
    (root / "hf_broken_json" / "config.json").write_text('{"model_type": "gpt2",\n')
    (root / "hf_llama").mkdir()
    (root / "hf_llama" / "config.json").write_text('{"model_type": "llama"}\n')
    (root / "hfdir").mkdir()
    (root / "hfdir" / "config.json").write_text('{"model_type": "gpt2"}\n')
    (root / "conf" / "experiment").mkdir(parents=True)
    (root / "conf" / "experiment" / "evil.yaml").write_text(
        f"# @package _global_\n_target_: os.system\n_args_: ['touch {root / 'PWNED'}']\n")

    shutil.copytree(tiny_ckpt, root / "truncated")
    weights = root / "truncated" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    shutil.copytree(tiny_ckpt, root / "mismatch")
    cfg = root / "mismatch" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("n_layer: 1", "n_layer: 2").replace("n_embd: 32", "n_embd: 32"))
    assert "n_layer: 2" in cfg.read_text()
    shutil.copytree(tiny_ckpt, root / "vocab")
    tok = root / "vocab" / "tokenizer" / "tokenizer.yaml"
    tok.write_text(tok.read_text().replace("num_sentinels: 0", "num_sentinels: 100"))

    (root / "conf" / "experiment" / "broken.yaml").write_text("# @package _global_\ntrainer: {max_steps: [\n")
    shutil.copytree(tiny_ckpt, root / "broken_yaml")
    (root / "broken_yaml" / "config.yaml").write_text("model: [unclosed\n")
    shutil.copytree(tiny_ckpt, root / "broken_tok")
    (root / "broken_tok" / "tokenizer" / "tokenizer.yaml").write_text("name: [\n")

    _bad_ckpt_file(root / "evil.ckpt")
    (root / "truncated.ckpt").write_bytes((root / "evil.ckpt").read_bytes()[:100])
    (root / "evil_hf").mkdir()
    (root / "evil_hf" / "config.json").write_text(json.dumps(
        {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50, "n_positions": 16,
         "n_embd": 8, "n_layer": 1, "n_head": 2}))
    _bad_ckpt_file(root / "evil_hf" / "pytorch_model.bin")
    return root


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under the roots, with size and modification time."""
    out = {}
    for root in roots:
        for p in [root, *root.rglob("*")]:
            st = p.stat()
            out[str(p)] = (st.st_size if p.is_file() else -1, st.st_mtime_ns if p.is_file() else 0)
    return out


def run_case(args: list[str], capsys) -> tuple[int, str, str]:
    plugins.reset()
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, fx, tiny_ckpt, tmp_path, capsys, monkeypatch, tmp_path_factory):
    if case.plugin:
        site = tmp_path_factory.mktemp("site")
        install_plugin(site, case.plugin)
        monkeypatch.syspath_prepend(str(site))
    args = [a.replace("{fx}", str(fx)).replace("{ckpt}", str(tiny_ckpt)).replace("{tmp}", str(tmp_path))
            for a in case.args]
    before = snapshot(tmp_path, fx, tiny_ckpt)

    code, out, err = run_case(args, capsys)

    assert code != 0, f"exit 0 for a bad input; stdout: {out[-500:]} stderr: {err[-1500:]}"
    assert "Traceback" not in err + out
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    hints = [line for line in err.splitlines() if line.startswith("  hint: ")]
    assert len(errors) == 1, err[-2000:]
    for needle in case.says:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    assert hints, f"no hint: {err[-1000:]}"
    assert case.hint in hints[0], f"{case.hint!r} not in {hints[0]!r}"
    assert "Error: " not in errors[0], f"a raw exception leaked: {errors[0]}"  # e.g. 'ValueError: ...'
    assert snapshot(tmp_path, fx, tiny_ckpt) == before, "the command left files behind or changed its inputs"
    assert not list(fx.rglob("PWNED")), "a config or checkpoint ran code"


# ---- disk full while saving: no half-written checkpoint, a clear message


def test_disk_full_while_saving_a_checkpoint_leaves_no_partial_checkpoint(tmp_path, capsys, monkeypatch):
    """The filesystem fills up in the middle of writing the weights (half the file written, then ENOSPC)."""
    import safetensors.torch

    real_save = safetensors.torch.save_file

    def save_until_full(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as f:
            f.truncate(os.path.getsize(filename) // 2)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(safetensors.torch, "save_file", save_until_full)
    run = tmp_path / "run"
    code, out, err = run_case(["train", f"run_dir={run}", *QUICK, "data.max_examples=16"], capsys)
    assert code == 1 and "Traceback" not in err
    assert "error: no space left on the device while writing" in err and "model.safetensors" in err
    assert "hint: free disk space" in err
    ckpts = run / "checkpoints"
    assert not (ckpts / "last").exists() and not (ckpts / "best").exists()
    assert not [p for p in ckpts.iterdir() if p.name.startswith(".")], "a temporary checkpoint was left behind"
    assert not (run / "metrics.json").exists()


def test_disk_full_while_writing_predictions_leaves_no_output_file(tiny_ckpt, tmp_path, capsys, monkeypatch):
    import framework.inference.commands as commands

    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    (tmp_path / "prompts.txt").write_text("hello\nworld\n")
    monkeypatch.setattr(commands.os, "fsync", full)
    code, out, err = run_case(["generate", f"ckpt={tiny_ckpt}", "input=prompts.txt", "output=out.jsonl",
                               "max_new_tokens=2"], capsys)
    monkeypatch.setattr(commands.os, "fsync", real_fsync)
    assert code == 1 and "Traceback" not in err and "no space left on the device" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prompts.txt"]  # no out.jsonl, no temporary file


# ---- through the real console script: exit status, no traceback, --debug shows one


def test_console_script_exit_code_and_no_traceback(tmp_path):
    (tmp_path / "reviews.csv").write_text("sentence,label\ngood,pos\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "train", "data=csv", "data.path=reviews.csv",
                           *CLS], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "data.text_field" in errors[0] and "Traceback" not in proc.stderr
    assert "\n  hint: " in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviews.csv"]  # no run directory left behind


def test_debug_shows_the_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "--debug", "train", "optim.lr=-1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "optim.lr" in proc.stderr
