"""Run directories: where a run writes its frozen config, logs, checkpoints and metrics; finding the run
to resume; handing the one frozen config to every DDP process.

Two ways a multi-process run starts. Lightning's own launcher (`trainer=ddp` from one command) starts ranks
1.. from rank 0, which passes the run directory in the environment. `torchrun` and SLURM's `srun` start every
rank at once; rank 0 then writes a small handoff file beside the run directory (named after the launch) and
the others wait for it, so every rank still trains in one run directory with one frozen config.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from framework.errors import NlpfError

# set by rank 0 before Lightning starts the other processes, which inherit the environment
RUN_DIR_ENV = "NLPF_RUN_DIR"
RESUME_ENV = "NLPF_RESUME_CKPT"
LIGHTNING_CKPT = Path("checkpoints") / "lightning" / "last.ckpt"
DONE_FILE = "metrics.json"


def is_spawned_rank() -> bool:
    """True in a process Lightning launched for rank > 0 of a run that rank 0 already set up."""
    local = os.environ.get("LOCAL_RANK", "0")
    node = os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", "0"))
    return RUN_DIR_ENV in os.environ and (local != "0" or node != "0")


@dataclass(frozen=True)
class Launch:
    """A run whose every process was started by torchrun or srun: this process's global rank, and a key that
    names the launch (the same in every rank of it, different for the next launch)."""

    rank: int
    key: str


def external_launch() -> Optional[Launch]:
    """The torchrun or srun launch this process belongs to, or None (one process, or Lightning's launcher)."""
    env = os.environ
    if "TORCHELASTIC_RUN_ID" in env and int(env.get("WORLD_SIZE", "1")) > 1:
        parts = ("torchrun", env["TORCHELASTIC_RUN_ID"], env.get("MASTER_ADDR", ""), env.get("MASTER_PORT", ""),
                 env.get("TORCHELASTIC_RESTART_COUNT", "0"))
        return Launch(int(env.get("RANK", "0")), _key(parts))
    # what Lightning's SLURM environment takes as "srun started the ranks"
    if int(env.get("SLURM_NTASKS", "1")) > 1 and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        parts = ("slurm", env.get("SLURM_JOB_ID", ""), env.get("SLURM_STEP_ID", "0"), env.get("SLURM_RESTART_COUNT", "0"))
        return Launch(int(env.get("SLURM_PROCID", "0")), _key(parts))
    return None


def _key(parts) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


def is_secondary_rank() -> bool:
    """True in every process of a multi-process run but rank 0 (which alone creates and cleans up the run)."""
    launch = external_launch()
    return launch.rank != 0 if launch is not None else is_spawned_rank()


def handoff_file(launch: Launch, run_dir: Optional[str], experiment_name: str, root: str | os.PathLike = "runs") -> Path:
    """Where rank 0 of a torchrun/srun launch tells the other ranks its run directory: beside `run_dir` when
    given, else in runs/<experiment>/ (on a filesystem every node sees)."""
    base = Path(run_dir).parent if run_dir else Path(root) / experiment_name
    return base / f".launch-{launch.key}.json"


_handoffs: list[Path] = []  # written by this process (rank 0), removed once training has started or failed


def write_handoff(path: Path, run_dir: Path, ckpt: Optional[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"run_dir": str(run_dir), "ckpt": str(ckpt) if ckpt else None}))
    os.replace(tmp, path)
    _handoffs.append(path)


def remove_handoffs() -> None:
    while _handoffs:
        _handoffs.pop().unlink(missing_ok=True)


def wait_for_handoff(path: Path, rank: int, timeout: float) -> tuple[Path, Optional[Path]]:
    """(run directory, checkpoint to resume or None) that rank 0 wrote; files older than this launch are ignored."""
    since = time.time() - 120  # every rank of one launch starts within seconds of the others
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path.stat().st_mtime >= since:
                found = json.loads(path.read_text())
                return Path(found["run_dir"]), (Path(found["ckpt"]) if found["ckpt"] else None)
        except (OSError, ValueError, KeyError):
            pass  # not written yet (or being replaced)
        time.sleep(0.2)
    raise NlpfError(f"rank {rank} waited {timeout:.0f} s for rank 0 to create the run directory ({path} never appeared)",
                    hint="every node must see the same run directory: run from a shared filesystem or pass "
                         "run_dir=PATH on one; check rank 0's output for its error")


def new_run_dir(experiment_name: str, root: str | os.PathLike = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / experiment_name / stamp
    n = 1
    while path.exists():  # two runs in the same second
        path = Path(root) / experiment_name / f"{stamp}-{n}"
        n += 1
    return path


def holds_a_run(path: Path) -> bool:
    return any((path / name).exists() for name in ("resolved.yaml", "checkpoints", "logs", DONE_FILE))


def latest_interrupted(experiment_name: str, root: str | os.PathLike = "runs") -> Path | None:
    """The newest run of this experiment that saved a Lightning checkpoint but never finished."""
    base = Path(root) / experiment_name
    if not base.is_dir():
        return None
    runs = sorted((p for p in base.iterdir() if (p / LIGHTNING_CKPT).is_file() and not (p / DONE_FILE).is_file()),
                  key=lambda p: (p / LIGHTNING_CKPT).stat().st_mtime)
    return runs[-1] if runs else None


def resolve_resume(resume: str | None, run_dir: str | None, experiment_name: str) -> tuple[Path | None, Path | None]:
    """(run directory to use or None for a new one, Lightning checkpoint to resume from or None)."""
    if not resume:
        if run_dir and holds_a_run(Path(run_dir)):  # its logs and best checkpoint would mix with the new run's
            raise NlpfError(f"run_dir={run_dir} already holds a run",
                            hint="pass resume=auto to continue it, or a new run_dir (or delete the old one)")
        return (Path(run_dir) if run_dir else None), None
    if resume != "auto":
        ckpt = Path(resume)
        if ckpt.is_dir():
            ckpt = ckpt / LIGHTNING_CKPT if (ckpt / LIGHTNING_CKPT).is_file() else ckpt / "last.ckpt"
        if not ckpt.is_file():
            raise NlpfError(f"resume='{resume}': no Lightning checkpoint there",
                            hint=f"pass resume=auto, a run directory holding {LIGHTNING_CKPT}, or a .ckpt file")
        if run_dir:
            return Path(run_dir), ckpt
        # RUN/checkpoints/lightning/last.ckpt continues RUN; a checkpoint anywhere else starts a new run directory
        inside_run = ckpt.parent.name == "lightning" and ckpt.parent.parent.name == "checkpoints"
        return (ckpt.parent.parent.parent if inside_run else None), ckpt
    if run_dir:
        ckpt = Path(run_dir) / LIGHTNING_CKPT
        return Path(run_dir), (ckpt if ckpt.is_file() else None)
    found = latest_interrupted(experiment_name)
    if found is None:
        return None, None  # nothing to resume: start fresh
    return found, found / LIGHTNING_CKPT


def changed_settings(old: dict, new: dict, prefix: str = "") -> list[str]:
    """'key: old -> new' for each setting that differs between two resolved configs (resume and run_dir aside)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        full = f"{prefix}{key}"
        if full in ("resume", "run_dir"):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_settings(a, b, f"{full}.")
        elif a != b:
            out.append(f"{full}: {a} -> {b}")
    return out


RESUME_HINT = "resume with the same command plus resume=auto (or resume=RUN_DIR)"


class Preempted(Exception):
    """Training stopped on a signal after saving a checkpoint (not an error: the run can be resumed)."""

    def __init__(self, signal_name: str, step: int, saved: list[Path]):
        self.signal_name, self.step, self.saved = signal_name, step, saved
        self.exit_code = 128 + int(getattr(signal, signal_name))
        super().__init__(f"{signal_name}: stopped after step {step}")
