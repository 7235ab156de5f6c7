"""What `resume=` does with runs that cannot be continued, a SIGTERM before the first step, and sweeps with a fixed
run_dir: a finished run is refused and left untouched; a run stopped during start-up leaves no directory that
blocks the next command; `--multirun run_dir=DIR` gives each job its own DIR/N."""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_resume_points import DRIVER  # noqa: E402 - the self-signalling driver

TINY = ["max_length=16", "batch_size=8", "trainer.enable_progress_bar=false", "data.max_examples=24",
        "model.n_layer=1", "model.n_embd=32", "model.n_head=2"]


def nlpf(*args: str, cwd: Path, stop_at: str | None = None) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "framework.cli", *args]
    if stop_at:
        (cwd / "stop_driver.py").write_text(DRIVER)
        command = [sys.executable, str(cwd / "stop_driver.py"), *args]
        env["STOP_AT"] = stop_at
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    return done.returncode, done.stdout


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    code, out = nlpf("train", "run_dir=run", *TINY, "trainer.max_steps=3", cwd=root)
    assert code == 0, out[-3000:]
    return root / "run"


@pytest.mark.parametrize("how", [["resume=RUN"], ["run_dir=RUN", "resume=auto"], ["resume=RUN/checkpoints/lightning/last.ckpt"]])
def test_resuming_a_finished_run_is_refused_and_leaves_it_untouched(tmp_path, finished, how):
    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    before = snapshot(run)
    code, out = nlpf("train", *(a.replace("RUN", str(run)) for a in how), *TINY, "trainer.max_steps=2", cwd=tmp_path)
    assert code == 2, out[-3000:]
    assert f"run {run} already finished" in out and "hint:" in out and f"init_from={run}" in out
    assert "Traceback" not in out
    assert snapshot(run) == before


def test_sigterm_during_start_up_removes_the_unstarted_run(tmp_path):
    # the run signals itself while the trainer is being built, before its first step
    code, out = nlpf("train", "run_dir=run", *TINY, "trainer.max_steps=3", cwd=tmp_path, stop_at="startup")
    assert code == 143, out[-3000:]
    assert "before the first training step" in out and "removed the unstarted run directory" in out
    assert "Traceback" not in out
    assert not (tmp_path / "run").exists()


def test_resume_auto_starts_afresh_in_a_directory_a_start_up_kill_left(tmp_path):
    run = tmp_path / "run"  # what a SIGKILL during start-up leaves: the frozen config, an empty log
    (run / "logs").mkdir(parents=True)
    (run / "resolved.yaml").write_text("seed: 1\n")
    (run / "logs" / "metrics.csv").write_text("")
    code, out = nlpf("train", "run_dir=run", *TINY, "trainer.max_steps=2", "resume=auto", cwd=tmp_path)
    assert code == 0, out[-3000:]
    assert "stopped before its first step" in out
    assert (run / "metrics.json").is_file()
    # (one that logged steps is still refused: test_crash_resume.test_resume_auto_refuses_a_run_directory_...)


def test_a_sweep_with_a_fixed_run_dir_gives_each_job_its_own_directory(tmp_path):
    code, out = nlpf("train", "run_dir=runs/mr", "seed=1,2", *TINY, "trainer.max_steps=1", "--multirun", cwd=tmp_path)
    assert code == 0, out[-3000:]
    for job in (0, 1):
        assert (tmp_path / "runs" / "mr" / str(job) / "metrics.json").is_file()
    assert "seed: 2" in (tmp_path / "runs" / "mr" / "1" / "resolved.yaml").read_text()


def test_resuming_with_another_model_is_refused_and_leaves_the_run_untouched(tmp_path, finished):
    run = tmp_path / "cut"
    shutil.copytree(finished, run)
    (run / "metrics.json").unlink()  # reads as interrupted: resume would continue it
    before = snapshot(run)
    code, out = nlpf("train", f"resume={run}", *TINY, "model.n_layer=2", "trainer.max_steps=5", cwd=tmp_path)
    assert code == 2, out[-3000:]
    assert f"resuming {run} with another model than it trained: model.n_layer: 1 -> 2" in out
    assert "Traceback" not in out
    assert snapshot(run) == before  # resolved.yaml not rewritten, nothing else touched
