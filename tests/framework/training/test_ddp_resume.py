"""Multi-process runs: DDP on 2 CPU processes (gloo), and resume=auto after a SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from framework import cli

TINY = ["max_length=32", "batch_size=4", "trainer.enable_progress_bar=false", "data.max_examples=32"]


def nlpf(*args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "framework.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_ddp_two_cpu_processes_one_run_dir(tmp_path, capsys):
    # eval batches of 3: an odd number of test batches, so one rank's last batch repeats another's
    proc = nlpf("train", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "experiment_name=ddp",
                *TINY, "eval_batch_size=3")
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    runs = list((tmp_path / "runs" / "ddp").iterdir())
    assert len(runs) == 1, runs  # the second process reused rank 0's run directory
    run = runs[0]
    assert list(run.glob("*.yaml")) == [run / "resolved.yaml"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] >= 1 and metrics["test"]["loss"] > 0
    assert "strategy: ddp" in (run / "resolved.yaml").read_text()
    assert out.count("test loss") == 1  # printed by rank 0 only
    # the test metrics count each example once: the same as one process evaluating the same checkpoint
    assert cli.main(["evaluate", f"ckpt={run}", "batch_size=3"]) == 0
    single = float(capsys.readouterr().out.split("loss ")[1].split(",")[0].split()[0])
    assert abs(single - metrics["test"]["loss"]) <= 1e-4, (single, metrics["test"])  # printed to 4 decimals


def _one_run_dir(tmp_path, name):
    runs = list((tmp_path / "runs" / name).iterdir())
    assert [r.name for r in runs if r.name.startswith(".launch-")] == []  # the handoff is cleaned up
    assert len(runs) == 1, runs  # every rank trained in rank 0's run directory
    assert (runs[0] / "resolved.yaml").is_file() and (runs[0] / "metrics.json").is_file()


def test_torchrun_starts_every_rank_into_one_run_dir(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "framework.cli",
                           "train", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                           "experiment_name=torchrun", *TINY], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    _one_run_dir(tmp_path, "torchrun")


def test_srun_style_launch_every_rank_started_by_slurm(tmp_path):
    """What srun does on one node: both tasks start at once with SLURM's variables (Lightning reads them)."""
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "SLURM_NTASKS": "2", "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS_PER_NODE": "2",
               "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank), "SLURM_NODEID": "0", "SLURM_JOB_ID": "4242",
               "SLURM_STEP_ID": "0", "SLURM_NODELIST": "localhost", "SLURM_JOB_NAME": "train"}
        procs.append(subprocess.Popen([sys.executable, "-m", "framework.cli", "train", "trainer=ddp",
                                       "trainer.accelerator=cpu", "trainer.devices=2", "experiment_name=srun", *TINY],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
    _one_run_dir(tmp_path, "srun")
    assert "test loss" in outs[0] and "test loss" not in outs[1]


UNUSED = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "model=bag_tiny", "model.vocab_size=263",
          "model.unused_layer=true", "objective=masked_lm", "head=lm", *TINY]  # a layer its forward never calls


def test_ddp_names_the_setting_for_parameters_without_gradient(tmp_path):
    proc = nlpf("train", "experiment_name=unused", *UNUSED)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 2, out[-3000:]
    assert "without a gradient" in out and "trainer.find_unused_parameters=true" in out and "Traceback" not in out
    assert not (tmp_path / "runs").exists()  # no half-made run directory

    proc = nlpf("train", "experiment_name=unused", "trainer.find_unused_parameters=true", *UNUSED)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]


def test_ddp_trains_with_the_unused_layer_frozen(tmp_path):
    proc = nlpf("train", "experiment_name=frozen", "optim.freeze=[backbone.unused]", *UNUSED)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    assert "test loss" in out


def test_resume_auto_after_sigkill(tmp_path, capsys):
    args = ["train", "experiment_name=resume", *TINY, "trainer.max_epochs=20", "trainer.limit_train_batches=4",
            "trainer.checkpoint_every_n_steps=2", "trainer.log_every_n_steps=1"]
    proc = nlpf(*args)
    ckpt_glob = "runs/resume/*/checkpoints/lightning/last.ckpt"
    deadline = time.time() + 180
    while time.time() < deadline and not list(tmp_path.glob(ckpt_glob)):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    ckpts = list(tmp_path.glob(ckpt_glob))
    assert ckpts, "no checkpoint was written before the kill"
    run = ckpts[0].parents[2]
    assert not (run / "metrics.json").exists()  # it really was interrupted
    import torch

    saved_step = torch.load(ckpts[0], map_location="cpu", weights_only=False)["global_step"]
    assert 0 < saved_step < 80

    assert cli.main(args + ["resume=auto"]) == 0
    assert f"resuming {run.resolve()}" in capsys.readouterr().err
    assert len(list((tmp_path / "runs" / "resume").iterdir())) == 1  # continued in the same directory
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 80  # 20 epochs x 4 batches: no step lost or repeated
