"""`nlpf evaluate`'s own arguments are checked before the checkpoint and the data load."""
import pytest

from framework import cli


@pytest.mark.parametrize("argument, message, hint", [
    ("precision=fp16", "invalid value 'fp16' for 'precision'. Did you mean", "bf16-mixed"),
    ("accelerator=cpuu", "invalid value 'cpuu' for 'accelerator'. Did you mean 'cpu'?", "auto, cpu, gpu"),
    ("split=tset", "invalid value 'tset' for 'split'. Did you mean 'test'?", "test, validation, train"),
    ("precision=16-mixed accelerator=cpu", "precision=16-mixed needs a GPU", "bf16-mixed or 32"),
    ("device=cpu", "nlpf evaluate takes accelerator=, not device=", "accelerator=cpu|gpu"),
    ("dtype=bfloat16", "nlpf evaluate takes precision=, not dtype=", "precision=32|bf16-mixed")])
def test_a_bad_argument_is_named_before_anything_loads(tmp_path, capsys, argument, message, hint):
    missing = tmp_path / "no-such-checkpoint"  # never read: the arguments are refused first
    assert cli.main(["evaluate", f"ckpt={missing}", *argument.split()]) == 2
    err = capsys.readouterr().err
    assert message in err and hint in err and "no-such-checkpoint" not in err


def test_a_gpu_that_is_not_there_is_named(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["evaluate", f"ckpt={tmp_path}", "accelerator=gpu"]) == 2
    assert "accelerator=gpu, but this machine has no CUDA GPU" in capsys.readouterr().err


def test_a_new_run_goes_in_a_new_or_empty_directory(tmp_path, capsys):
    own = tmp_path / "mine"
    own.mkdir()
    (own / "notes.txt").write_text("keep me")
    assert cli.main(["train", f"run_dir={own}", "trainer.max_steps=1"]) == 2
    assert f"run_dir={own} holds other files (notes.txt)" in capsys.readouterr().err
    assert sorted(p.name for p in own.iterdir()) == ["notes.txt"]
    assert cli.main(["train", f"run_dir={own / 'notes.txt'}", "trainer.max_steps=1"]) == 2
    assert "is a file" in capsys.readouterr().err
