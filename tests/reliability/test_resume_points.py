"""Exact resume from every moment a run can stop: during the end-of-epoch validation, in the epoch-end hooks
(SIGTERM), and after an end-of-epoch checkpoint (SIGKILL). The resumed run must equal the uninterrupted one bit for
bit: every logged value at the same step, the per-epoch counts of metrics.json, the test metrics, the final weights.

The signal is sent by the run to itself from a callback at a chosen point (not by timing), through a small driver
that adds that callback to the trainer nlpf builds. Every run is a subprocess with one thread.
"""
import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from safetensors.torch import load_file

# 8 training batches an epoch, 54 validation batches of one example (a long validation to stop in), dropout on
RUN = ["trainer.max_steps=28", "max_length=8", "batch_size=8", "eval_batch_size=1", "data.validation_ratio=0.8",
       "trainer.checkpoint_every_n_steps=100", "trainer.enable_progress_bar=false", "model.dropout=0.1",
       "trainer.log_every_n_steps=1"]

DRIVER = textwrap.dedent('''
    """nlpf ARGS, signalling itself at STOP_AT: val:EPOCH:BATCH, epochend:EPOCH, step:N (after step N) or
    startup (once the trainer is built, before fit)."""
    import os, signal, sys
    import pytorch_lightning as pl
    import framework.training.trainer as trainer_module
    from framework.cli import main

    where, *at = os.environ["STOP_AT"].split(":")
    at = [int(n) for n in at]
    signum = getattr(signal, os.environ.get("STOP_SIGNAL", "SIGTERM"))

    class Stop(pl.Callback):
        sent = False

        def _stop(self):
            if not Stop.sent:
                Stop.sent = True
                os.kill(os.getpid(), signum)

        def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
            if where == "val" and not trainer.sanity_checking and [trainer.current_epoch, batch_idx] == at:
                self._stop()

        def on_train_epoch_end(self, trainer, module):
            if where == "epochend" and trainer.current_epoch == at[0]:
                self._stop()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if where == "step" and trainer.global_step == at[0]:
                self._stop()

    make = trainer_module.make_trainer

    def make_trainer(*args, **kwargs):
        trainer, nlpf_ckpt = make(*args, **kwargs)
        trainer.callbacks.append(Stop())
        if where == "startup":
            os.kill(os.getpid(), signum)
        return trainer, nlpf_ckpt

    trainer_module.make_trainer = make_trainer
    sys.exit(main(sys.argv[1:]))
''')


def run(*args: str, stop_at: str | None = None, signal_name: str = "SIGTERM", cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if stop_at:
        driver = cwd / "stop_driver.py"
        driver.write_text(DRIVER)
        command = [sys.executable, str(driver), *args]
        env.update(STOP_AT=stop_at, STOP_SIGNAL=signal_name)
    else:
        command = [sys.executable, "-m", "framework.cli", *args]
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    return done.returncode, done.stdout


def logged(run_dir: Path) -> dict[tuple[int, str], float]:
    """(step, column) -> value for every logged value but the wall-clock ones."""
    out = {}
    with open(run_dir / "logs" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if value and key not in ("step", "epoch") and "per_s" not in key:
                    out[(int(row["step"]), key)] = float(value)
    return out


def summary(run_dir: Path) -> dict:
    data = json.loads((run_dir / "metrics.json").read_text())
    return {"test": data["test"], "global_step": data["global_step"],
            "epochs": [(e["epoch"], e["tokens"]) for e in data["epochs"]]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    os.environ["NLPF_CACHE"] = str(tmp_path_factory.getbasetemp() / "nlpf_cache")
    try:
        code, out = run("train", "run_dir=run", *RUN, cwd=root)
    finally:
        os.environ.pop("NLPF_CACHE", None)
    assert code == 0, out[-3000:]
    return root / "run"


@pytest.mark.parametrize("stop_at, signal_name, resume_with", [
    ("val:1:3", "SIGTERM", []),  # during epoch 1's validation
    ("epochend:1", "SIGTERM", ["trainer.checkpoint_every_n_steps=50"]),  # in epoch 1's epoch-end hooks
    ("step:17", "SIGKILL", []),  # killed: resumes from the end-of-epoch-1 checkpoint
], ids=["sigterm-in-validation", "sigterm-at-epoch-end", "sigkill-after-epoch-end-checkpoint"])
def test_resume_from_an_epoch_end_equals_the_uninterrupted_run(tmp_path, reference, stop_at, signal_name,
                                                                resume_with):
    code, out = run("train", "run_dir=run", *RUN, stop_at=stop_at, signal_name=signal_name, cwd=tmp_path)
    stopped = out
    if signal_name == "SIGTERM":
        assert code == 143, out[-3000:]
        assert "stopped by SIGTERM after step 16" in out
        assert "weights_only" not in out  # Lightning's note on saving reads like unsafe loading
    else:
        assert code == -9, out[-3000:]
    assert not (tmp_path / "run" / "metrics.json").exists()

    code, out = run("train", "run_dir=run", *RUN, *resume_with, "resume=auto", cwd=tmp_path)
    assert code == 0, out[-3000:]
    assert "Be aware" not in out  # Lightning's warning about callbacks; nlpf names the changed setting itself
    assert (stopped + out).count("epoch 1:") == 1, out[-2000:]  # the interrupted epoch is reported, once
    resumed, whole = logged(tmp_path / "run"), logged(reference)
    assert sorted(resumed) == sorted(whole)  # no step missing or shifted, epoch 1's validation logged
    assert resumed == whole
    assert summary(tmp_path / "run") == summary(reference)
    final, expected = (load_file(r / "checkpoints" / "last" / "model.safetensors") for r in (tmp_path / "run", reference))
    assert all((final[k] == expected[k]).all() for k in expected)
