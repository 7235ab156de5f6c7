"""Safe loading: pickles that would run code are refused (never executed) wherever nlpf reads a file, and
configs cannot name code to run (`_target_` and builder paths are not config keys)."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from framework import cli, plugins

ROOT = Path(__file__).resolve().parents[2]


class RunsCode:
    """Unpickling this object runs `touch MARKER`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious(path: Path, payload: dict) -> Path:
    marker = path.parent / "PWNED"
    torch.save({**payload, "evil": RunsCode(marker)}, path)
    # the file really is dangerous: a plain torch.load runs the command
    with open(path, "rb") as f:
        torch.load(f, weights_only=False)
    assert marker.exists()
    marker.unlink()
    return marker


def run(args, capsys):
    plugins.reset()
    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_import_hf_refuses_a_pytorch_model_bin_that_runs_code(tmp_path, capsys):
    src = tmp_path / "hf"
    src.mkdir()
    (src / "config.json").write_text(json.dumps(
        {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50, "n_positions": 16,
         "n_embd": 8, "n_layer": 1, "n_head": 2}))
    marker = malicious(src / "pytorch_model.bin", {"wte.weight": torch.zeros(50, 8)})
    code, err = run(["import", "hf", src, tmp_path / "out"], capsys)
    assert code == 2 and not marker.exists()
    assert "pytorch_model.bin" in err and "safely" in err and "hint:" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["file", "run_dir", "auto"])
def test_resume_refuses_a_lightning_checkpoint_that_runs_code(where, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "default" / "20260101-000000"
    ckpt = run_dir / "checkpoints" / "lightning" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    (run_dir / "resolved.yaml").write_text("seed: 0\n")
    marker = malicious(ckpt, {"epoch": 0, "global_step": 3, "state_dict": {}})
    resume = {"file": f"resume={ckpt}", "run_dir": f"resume={run_dir}", "auto": "resume=auto"}[where]
    code, err = run(["train", resume, "trainer.max_steps=1", "trainer.enable_progress_bar=false"], capsys)
    assert code == 2 and not marker.exists(), err
    assert "refusing to load" in err and "last.ckpt" in err and "system" in err and "Traceback" not in err
    assert ckpt.is_file()  # the user's file is left alone


def test_lightning_loader_uses_weights_only_even_when_called_directly(tmp_path):
    """The CheckpointIO Lightning uses on resume is guarded itself, not only by the pre-check of `nlpf train`."""
    from framework.errors import NlpfError
    from framework.training.safety import AtomicCheckpointIO

    path = tmp_path / "last.ckpt"
    marker = malicious(path, {"global_step": 1})
    with pytest.raises(NlpfError, match="refusing to load"):
        AtomicCheckpointIO().load_checkpoint(path)
    assert not marker.exists()
    # and a plain checkpoint round-trips through it
    AtomicCheckpointIO().save_checkpoint({"global_step": 7, "w": torch.ones(2)}, tmp_path / "ok.ckpt")
    assert AtomicCheckpointIO().load_checkpoint(tmp_path / "ok.ckpt")["global_step"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "ok.ckpt"]  # no temporary files


@pytest.mark.parametrize("command", [["evaluate", "ckpt={d}"], ["predict", "ckpt={d}", "input={d}/x.txt"],
                                     ["generate", "ckpt={d}", "prompt=hi"], ["train", "init_from={d}"]])
def test_checkpoint_dirs_are_read_from_safetensors_only(command, tiny_ckpt, tmp_path, capsys):
    """A checkpoint directory whose weights are a pickle (renamed, or a pytorch_model.bin instead of
    model.safetensors) is refused by every command that reads checkpoints; the pickle never runs."""
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt, d)
    (d / "x.txt").write_text("hello\n")
    marker = malicious(d / "model.safetensors", {"w": torch.ones(1)})
    # train: a max_length that fits the checkpoint's position table, so the weights are what is refused
    command = [a.replace("{d}", str(d)) for a in command] + (["trainer.max_steps=1", "max_length=32"] if command[0] == "train" else [])
    code, err = run(command, capsys)
    assert code == 2 and not marker.exists(), err
    assert "model.safetensors" in err and "Traceback" not in err

    (d / "model.safetensors").unlink()
    malicious(d / "pytorch_model.bin", {"w": torch.ones(1)})
    code, err = run(command, capsys)
    assert code == 2 and not marker.exists() and "Traceback" not in err


TARGET = "os.system"


@pytest.mark.parametrize("overrides", [
    ["+_target_=os.system", "+_args_=[touch PWNED]"],
    ["_target_=os.system"],
    ["+model._target_=os.system"],
    ["model._target_=os.system"],
    ["++model._target_=os.system"],
    ["model={_target_:os.system,name:gpt}"],
    ["+trainer._target_=os.system"],
    ["+optim._target_=os.system"],
    ["+data._target_=os.system"],
    ["+tokenizer._target_=os.system"],
    ["hydra.searchpath=[file://{conf}]", "experiment=evil_top"],
    ["hydra.searchpath=[file://{conf}]", "experiment=evil_model"],
    ["hydra.searchpath=[file://{conf}]", "model=evil"],
])
def test_config_cannot_name_code_to_run(overrides, tmp_path, capsys):
    conf = tmp_path / "conf"
    touch = f"['touch {tmp_path / 'PWNED'}']"
    (conf / "experiment").mkdir(parents=True)
    (conf / "model").mkdir()
    (conf / "experiment" / "evil_top.yaml").write_text(f"# @package _global_\n_target_: {TARGET}\n_args_: {touch}\n")
    (conf / "experiment" / "evil_model.yaml").write_text(
        f"# @package _global_\nmodel:\n  _target_: {TARGET}\n  _args_: {touch}\n")
    (conf / "model" / "evil.yaml").write_text(f"name: gpt\n_target_: {TARGET}\n_args_: {touch}\n")
    args = [o.replace("{conf}", str(conf)) for o in overrides]
    for command in (["config"], ["train", "trainer.max_steps=1", "trainer.enable_progress_bar=false"]):
        code, err = run([*command, *args], capsys)
        assert code == 2, err
        assert "_target_" in err and "hint:" in err and "Traceback" not in err
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_checkpoint_config_cannot_name_code_to_run(tiny_ckpt, tmp_path, capsys):
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt, d)
    cfg = d / "config.yaml"
    cfg.write_text(cfg.read_text().replace("model:\n", f"model:\n  _target_: {TARGET}\n", 1))
    code, err = run(["generate", f"ckpt={d}", "prompt=hi"], capsys)
    assert code == 2 and "model._target_" in err and "Traceback" not in err


def test_component_names_are_registry_names_not_import_paths(capsys):
    for override in ("model.name=os:system", "tokenizer.name=builtins:eval", "objective.name=subprocess:run"):
        code, err = run(["config", override], capsys)
        assert code == 2 and "unknown" in err and "registered" in err


def test_no_config_driven_imports_in_the_code():
    """Objects are built only through registry entries (builder strings set by plugins in Python, never by
    configs): nothing in framework/ or plugins/ instantiates Hydra `_target_`s or imports modules by config."""
    offenders = []
    for path in [*ROOT.glob("framework/**/*.py"), *ROOT.glob("plugins/**/*.py")]:
        text = path.read_text()
        if re.search(r"hydra\.utils|\binstantiate\(|_locate\(|\bpickle\.loads?\(", text):
            offenders.append(str(path))
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path}: torch.load without weights_only=True")
        for m in re.finditer(r"import_module\(", text):
            if path.name not in ("registry.py", "cli.py"):  # registry builders and the static COMMANDS table
                offenders.append(f"{path}: import_module")
    assert not offenders, offenders
