"""torchrun/srun launches: which rank this is, and rank 0's handoff of the run directory."""
import os
import time

import pytest

from framework.errors import NlpfError
from framework.training import rundir

LAUNCH_VARS = ("TORCHELASTIC_RUN_ID", "WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT",
               "SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_RESTART_COUNT", "SLURM_JOB_NAME")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)


def test_torchrun_and_srun_are_recognised(monkeypatch):
    assert rundir.external_launch() is None
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    assert rundir.external_launch() == rundir.Launch(3, "slurm-77-0-0")
    assert rundir.is_secondary_rank()
    monkeypatch.setenv("SLURM_JOB_NAME", "bash")  # an interactive allocation: Lightning launches the ranks itself
    assert rundir.external_launch() is None
    for name, value in {"TORCHELASTIC_RUN_ID": "abc", "WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "10.0.0.1",
                        "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    assert rundir.external_launch() == rundir.Launch(0, "torchrun-abc-10.0.0.1-29500-0")
    assert not rundir.is_secondary_rank()


def test_the_other_ranks_read_rank_0s_handoff(tmp_path):
    launch = rundir.Launch(0, "slurm-1-0-0")
    path = rundir.handoff_file(launch, None, "exp", root=tmp_path)
    assert path == tmp_path / "exp" / ".launch-slurm-1-0-0.json"
    rundir.write_handoff(path, tmp_path / "exp" / "run", tmp_path / "last.ckpt")
    assert rundir.wait_for_handoff(path, 1, timeout=1) == (tmp_path / "exp" / "run", tmp_path / "last.ckpt")
    rundir.remove_handoffs()
    assert not path.exists()
    assert rundir.handoff_file(launch, str(tmp_path / "mine" / "run1"), "exp") == tmp_path / "mine" / ".launch-slurm-1-0-0.json"


def test_a_stale_handoff_is_ignored_and_waiting_ends_with_a_clear_error(tmp_path):
    path = tmp_path / ".launch-x.json"
    rundir.write_handoff(path, tmp_path / "old", None)
    rundir._handoffs.clear()  # keep the file: it plays an earlier launch's
    old = time.time() - 3600
    os.utime(path, (old, old))
    with pytest.raises(NlpfError, match="rank 2 waited 1 s for rank 0") as err:
        rundir.wait_for_handoff(path, 2, timeout=1)
    assert "shared filesystem" in err.value.hint
