"""torchrun/srun launches: which rank this is, and rank 0's handoff of the run directory (or of its error)."""
import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from framework.errors import NlpfError
from framework.training import launch

LAUNCH_VARS = ("TORCHELASTIC_RUN_ID", "TORCHELASTIC_USE_AGENT_STORE", "WORLD_SIZE", "RANK", "MASTER_ADDR",
               "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_JOB_ID",
               "SLURM_STEP_ID", "SLURM_RESTART_COUNT", "SLURM_JOB_NAME", launch.TIMEOUT_ENV)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)


def test_torchrun_and_srun_are_recognised(monkeypatch):
    assert launch.external_launch() is None
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    assert launch.external_launch() is None  # the batch script of a 4-task job: one process, no srun
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")  # what srun sets in the processes it starts
    monkeypatch.setenv("SLURM_PROCID", "3")
    assert launch.external_launch() == launch.Launch(3, 4, "slurm-77-0-0")
    assert launch.is_secondary_rank()
    monkeypatch.setenv("SLURM_JOB_NAME", "bash")  # an interactive allocation: Lightning launches the ranks itself
    assert launch.external_launch() is None
    for name, value in {"TORCHELASTIC_RUN_ID": "none", "WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "10.0.0.1",
                        "MASTER_PORT": "29500", "TORCHELASTIC_USE_AGENT_STORE": "True"}.items():
        monkeypatch.setenv(name, value)
    assert launch.external_launch() == launch.Launch(0, 2, "nlpf/run_dir/0", ("10.0.0.1", 29500))
    assert not launch.is_secondary_rank()
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "False")  # no shared store: a file named after the launch
    assert launch.external_launch() == launch.Launch(0, 2, "torchrun-none-10.0.0.1-29500-0")


def test_the_other_ranks_read_rank_0s_handoff_file(tmp_path):
    started = launch.Launch(0, 2, "slurm-1-0-0")
    handoff = launch.Handoff(started, None, "exp", root=tmp_path)
    assert handoff.path == tmp_path / "exp" / ".launch-slurm-1-0-0.json"
    assert launch.Handoff(started, str(tmp_path / "mine" / "run1"), "exp").path == tmp_path / "mine" / ".launch-slurm-1-0-0.json"
    handoff.send(tmp_path / "exp" / "run", tmp_path / "last.ckpt")
    other = launch.Handoff(launch.Launch(1, 2, "slurm-1-0-0"), None, "exp", root=tmp_path)
    assert other.receive() == (tmp_path / "exp" / "run", tmp_path / "last.ckpt")
    launch.remove_handoffs()
    assert not handoff.path.exists()


def test_rank_0s_error_stops_the_others_at_once(tmp_path):
    launch.Handoff(launch.Launch(0, 2, "k"), None, "exp", root=tmp_path).send(error="run_dir=x already holds a run")
    with pytest.raises(NlpfError, match="rank 0 stopped before training: run_dir=x already holds a run"):
        launch.Handoff(launch.Launch(1, 2, "k"), None, "exp", root=tmp_path).receive()
    launch.remove_handoffs()


def test_waiting_in_vain_ends_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(launch.TIMEOUT_ENV, "0.5")
    with pytest.raises(NlpfError, match="rank 1 waited 0 s for rank 0") as err:
        launch.Handoff(launch.Launch(1, 2, "k"), None, "exp", root=tmp_path).receive()
    assert "shared filesystem" in err.value.hint
    for bad in ("10m", "inf", "0"):
        monkeypatch.setenv(launch.TIMEOUT_ENV, bad)
        with pytest.raises(NlpfError, match=f"NLPF_LAUNCH_TIMEOUT='{bad}' is not a number of seconds"):
            launch.launch_timeout()


def test_torchrun_handoff_goes_through_its_store():
    from torch.distributed import TCPStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    master = TCPStore("127.0.0.1", port, is_master=True, timeout=timedelta(seconds=5), wait_for_workers=False)
    try:
        rank0 = launch.Handoff(launch.Launch(0, 2, "nlpf/run_dir/0", ("127.0.0.1", port)), None, "exp")
        assert rank0.path is None  # nothing written to disk
        rank0.send(run_dir=os.path.abspath("run"))
        rank1 = launch.Handoff(launch.Launch(1, 2, "nlpf/run_dir/0", ("127.0.0.1", port)), None, "exp")
        assert rank1.receive() == (Path(os.path.abspath("run")), None)
        launch.remove_handoffs()  # every rank joined: the key goes, a later round waits for a new answer
        assert not master.check(["nlpf/run_dir/0"])
    finally:
        del master


@pytest.mark.parametrize("devices, nodes, ok", [(2, 1, True), (1, 1, False), (1, 2, True), ([0, 1], 1, True),
                                                ("auto", 1, True), ("0,1", 1, True), (4, 1, False),
                                                (OmegaConf.create([0, 1, 2]), 1, False)])
def test_one_device_per_started_process(devices, nodes, ok):
    started = launch.Launch(0, 2, "k")
    if ok:
        launch.check_world_size(started, devices, nodes)
    else:
        with pytest.raises(NlpfError, match="the launcher started 2 processes"):
            launch.check_world_size(started, devices, nodes)


def test_an_old_error_handoff_is_cleaned_up_by_a_later_launch(tmp_path):
    import time

    launch.Handoff(launch.Launch(0, 2, "old"), None, "exp", root=tmp_path).send(error="x")
    launch._written.clear()  # rank 0 raised: nobody removes it
    old = tmp_path / "exp" / ".launch-old.json"
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))
    launch.Handoff(launch.Launch(0, 2, "new"), None, "exp", root=tmp_path).send(run_dir=tmp_path / "r")
    assert not old.exists() and (tmp_path / "exp" / ".launch-new.json").exists()
    launch.remove_handoffs()
