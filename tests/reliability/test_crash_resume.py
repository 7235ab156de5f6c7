"""Crash safety of `nlpf train`: SIGKILL then resume=auto gives the losses of an uninterrupted run; SIGTERM and
SIGINT save a checkpoint and exit 128 + signal; a NaN loss stops the run with its step unless on_nan=skip.

Every run is a subprocess with one thread, so the uninterrupted and the resumed runs compute bit for bit alike.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

# dropout on, so the resumed run must also restore the random states to match; a finite max_epochs, as in every
# experiment, makes the LR schedule count the steps, which builds the train loader before the checkpoint loads
# (steps of ~0.1 s leave time to signal a run between its first checkpoint and its end)
RUN = ["max_length=64", "batch_size=4", "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1",
       "trainer.max_epochs=3", "trainer.max_steps=36", "trainer.checkpoint_every_n_steps=5",
       "model.dropout=0.1", "model.attention_dropout=0.1", "model.n_layer=2",
       "model.n_embd=256", "trainer.limit_val_batches=2"]  # tiny_corpus: 14 steps an epoch, so 2 epoch ends
FIRST_CKPT = Path("checkpoints") / "lightning" / "last.ckpt"


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch, tmp_path_factory):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path_factory.getbasetemp() / "nlpf_cache"))
    for key in ("NLPF_RUN_DIR", "NLPF_RESUME_CKPT"):
        monkeypatch.delenv(key, raising=False)


def nlpf(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "framework.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def losses(run: Path) -> dict[int, float]:
    """step -> train loss; a resumed run appends to the log, so a repeated step keeps its last value."""
    out = {}
    with open(run / "logs" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("train/loss"):
                out[int(row["step"])] = float(row["train/loss"])
    return out


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not path.is_file():
        assert proc.poll() is None, f"the run ended before writing {path}: {proc.communicate()[0][-3000:]}"
        assert time.time() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.05)


def saved_step(ckpt: Path) -> int:
    return int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"])


@pytest.fixture(scope="module")
def reference(reference_run) -> dict[int, float]:
    """The losses of the uninterrupted run."""
    return losses(reference_run)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The run directory of the uninterrupted run."""
    root = tmp_path_factory.mktemp("reference")
    env_cache = str(tmp_path_factory.getbasetemp() / "nlpf_cache")
    os.environ["NLPF_CACHE"] = env_cache
    try:
        code, out = finish(nlpf("train", f"run_dir={root / 'run'}", *RUN))
    finally:
        os.environ.pop("NLPF_CACHE", None)
    assert code == 0, out[-3000:]
    assert sorted(losses(root / "run")) == list(range(36))
    return root / "run"


def test_sigkill_then_resume_auto_matches_the_uninterrupted_run(tmp_path, reference, reference_run):
    args = ["train", "experiment_name=crash", *RUN]
    proc = nlpf(*args)
    ckpt_glob = "runs/crash/*/checkpoints/lightning/last.ckpt"
    deadline = time.time() + 180
    while not list(tmp_path.glob(ckpt_glob)):
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    ckpt = list(tmp_path.glob(ckpt_glob))[0]
    run = ckpt.parents[2]
    step = saved_step(ckpt)
    assert 0 < step < 36 and not (run / "metrics.json").exists()
    assert not list(ckpt.parent.glob(".*.tmp")), "a temporary checkpoint file was left behind"

    code, out = finish(nlpf(*args, "resume=auto"))
    assert code == 0, out[-3000:]
    assert f"resuming {run.resolve()}" in out
    assert "differ from the interrupted run" not in out, out[-2000:]
    assert len(list((tmp_path / "runs" / "crash").iterdir())) == 1  # continued in the same directory
    resumed = losses(run)
    assert sorted(resumed) == list(range(36))  # the log of the killed run was kept up to its checkpoint
    after = [s for s in range(step, 36)]
    assert [resumed[s] for s in after] == pytest.approx([reference[s] for s in after], abs=1e-6, rel=0)
    # metrics.json covers the whole run, the part before the kill included
    whole, parts = (json.loads((r / "metrics.json").read_text()) for r in (reference_run, run))
    assert [(e["epoch"], e["tokens"]) for e in parts["epochs"]] == [(e["epoch"], e["tokens"]) for e in whole["epochs"]]
    assert parts["train_seconds"] > 0.5 * whole["train_seconds"]


def test_a_published_checkpoint_never_runs_ahead_of_the_log(tmp_path):
    """Whenever last.ckpt exists, the CSV log on disk holds every step before it: a SIGKILL at any moment
    leaves a log that the resumed run completes (Lightning logs a step after saving its checkpoint)."""
    run = tmp_path / "run"
    proc = nlpf("train", f"run_dir={run}", *RUN)
    seen: dict[int, list[int]] = {}
    while proc.poll() is None:
        if (run / FIRST_CKPT).is_file():
            proc.send_signal(signal.SIGSTOP)  # a consistent view of the checkpoint and the log
            try:
                step = saved_step(run / FIRST_CKPT)
                if step not in seen:
                    seen[step] = sorted(s for s in losses(run) if s < step)
            finally:
                proc.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    assert proc.wait() == 0, proc.communicate()[0][-3000:]
    assert len(seen) >= 3, seen
    assert all(logged == list(range(step)) for step, logged in seen.items()), seen


def test_sigterm_saves_a_checkpoint_and_exits_cleanly_then_resumes(tmp_path, reference):
    run = tmp_path / "run"
    proc = nlpf("train", f"run_dir={run}", *RUN)
    wait_for(run / FIRST_CKPT, proc)  # in the training loop, at step 5 of 36
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == 128 + signal.SIGTERM, out[-3000:]
    assert "Traceback" not in out
    assert "stopped by SIGTERM after step" in out and "resume=auto" in out
    step = saved_step(run / FIRST_CKPT)
    assert 5 <= step < 36
    assert f'"step": {step}' in (run / "checkpoints" / "last" / "meta.json").read_text()
    assert (run / "checkpoints" / "last" / "model.safetensors").is_file()
    assert not (run / "metrics.json").exists()

    code, out = finish(nlpf("train", f"run_dir={run}", *RUN, "resume=auto"))
    assert code == 0, out[-3000:]
    resumed = losses(run)
    assert sorted(resumed) == list(range(36))
    after = list(range(step, 36))
    assert [resumed[s] for s in after] == pytest.approx([reference[s] for s in after], abs=1e-6, rel=0)


def test_sigint_stops_after_the_step_with_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = nlpf("train", f"run_dir={run}", *RUN, "trainer.max_steps=100000")
    wait_for(run / FIRST_CKPT, proc)
    proc.send_signal(signal.SIGINT)
    code, out = finish(proc)
    assert code == 128 + signal.SIGINT, out[-3000:]
    assert "Traceback" not in out and "stopped by SIGINT" in out
    assert saved_step(run / FIRST_CKPT) >= 5
    assert (run / "checkpoints" / "last" / "model.safetensors").is_file()


@pytest.mark.parametrize("on_nan", ["stop", "skip"])
def test_nan_loss_stops_with_the_step_unless_skipped(tmp_path, on_nan):
    run = tmp_path / "run"
    code, out = finish(nlpf("train", f"run_dir={run}", "max_length=32", "batch_size=4", "trainer.max_steps=6",
                            "trainer.enable_progress_bar=false", "optim.lr=1e30", "optim.scheduler=constant",
                            "model.n_layer=1", f"trainer.on_nan={on_nan}", "data.max_examples=40"))
    assert "Traceback" not in out
    if on_nan == "stop":
        assert code == 2, out[-3000:]
        assert "the training loss became nan at step" in out and "hint:" in out and "on_nan=skip" in out
        assert not (run / "checkpoints" / "last").exists()  # no checkpoint of broken weights
    else:
        assert code == 0, out[-3000:]
        assert "non-finite loss at step" in out


def test_a_crash_while_writing_keeps_the_previous_complete_checkpoints(tmp_path, tiny_ckpt, monkeypatch):
    """A write that dies halfway (disk full, power cut before rename) never replaces `last` or `last.ckpt`."""
    import safetensors.torch

    from framework.checkpoint import load_checkpoint, read_config, save_checkpoint
    from framework.training.safety import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    ckpt = tmp_path / "lightning" / "last.ckpt"
    io.save_checkpoint({"global_step": 5, "w": torch.ones(3)}, ckpt)
    real_save = torch.save

    def dies_halfway(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(OSError):
        io.save_checkpoint({"global_step": 10, "w": torch.zeros(3)}, ckpt)
    monkeypatch.setattr(torch, "save", real_save)
    assert io.load_checkpoint(ckpt)["global_step"] == 5
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["last.ckpt"]

    model, cfg = load_checkpoint(tiny_ckpt)
    last = tmp_path / "last"
    save_checkpoint(last, model, cfg, tiny_ckpt / "tokenizer", meta={"step": 5})
    before = (last / "model.safetensors").read_bytes()

    def half_written(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 100)
        raise OSError(28, "No space left on device", filename)

    monkeypatch.setattr(safetensors.torch, "save_file", half_written)
    with pytest.raises(OSError):
        save_checkpoint(last, model, cfg, tiny_ckpt / "tokenizer", meta={"step": 10})
    assert (last / "model.safetensors").read_bytes() == before and '"step": 5' in (last / "meta.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last", "lightning"]  # no temporary directory left
    load_checkpoint(last)
    assert read_config(last).model.n_layer == 1


def test_changed_settings_on_resume_are_listed():
    from framework.training.rundir import changed_settings

    old = {"batch_size": 4, "optim": {"lr": 0.001, "name": "adamw"}, "resume": None, "run_dir": "a"}
    new = {"batch_size": 8, "optim": {"lr": 0.001, "name": "adamw"}, "resume": "auto", "run_dir": "b"}
    assert changed_settings(old, new) == ["batch_size: 4 -> 8"]


def test_every_epoch_end_is_a_resume_point_without_step_checkpoints(tmp_path):
    """The defaults (no trainer.checkpoint_every_n_steps): each epoch end writes the resume checkpoint, so a run
    killed in its third epoch resumes from an epoch end, not from scratch."""
    run = tmp_path / "run"
    args = [a for a in RUN if not a.startswith(("trainer.checkpoint_every_n_steps", "trainer.max_steps"))]
    proc = nlpf("train", f"run_dir={run}", *args, "trainer.max_epochs=6")
    try:
        wait_for(run / FIRST_CKPT, proc)
        step = saved_step(run / FIRST_CKPT)
    finally:
        proc.kill()
        proc.communicate()
    assert step % 14 == 0 and step < 6 * 14, step  # tiny_corpus: 14 steps an epoch; written before the run ended


def test_resume_auto_refuses_a_run_directory_without_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    (run / "resolved.yaml").write_text("seed: 0\n")
    # a run that trained and logged steps (one stopped before its first step is started afresh instead)
    (run / "logs" / "metrics.csv").write_text("step,train/loss\n0,5.0\n")
    code, out = finish(nlpf("train", f"run_dir={run}", "resume=auto", "trainer.max_steps=2"))
    assert code == 2 and "holds a run but no checkpoint to resume from" in out, out[-2000:]
    assert sorted(p.name for p in run.iterdir()) == ["logs", "resolved.yaml"]  # nothing added or replaced


def test_resume_auto_with_nothing_to_resume_says_it_starts_a_new_run(tmp_path):
    code, out = finish(nlpf("train", "resume=auto", "trainer.max_steps=1", "max_length=32", "batch_size=4",
                            "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false"))
    assert code == 0 and "no interrupted run of 'default' to continue; starting a new run" in out, out[-2000:]
