"""Run directories: where a run writes its frozen config, logs, checkpoints and metrics; finding the run
to resume; handing the one frozen config to every DDP process (ranks that torchrun or srun started:
framework/training/launch.py)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

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


def check_free(path: Path) -> None:
    """A new run's directory is new or empty: the run's files would mix with someone else's."""
    if path.exists() and not path.is_dir():
        raise NlpfError(f"run_dir={path} is a file", hint="name a new directory for the run")
    others = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    if others:
        raise NlpfError(f"run_dir={path} holds other files ({', '.join(others[:5])}{' ...' if len(others) > 5 else ''})",
                        hint="name a new or empty directory: the run writes checkpoints/, logs/, resolved.yaml and "
                        "metrics.json there")


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
        if run_dir:
            check_free(Path(run_dir))
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
        if ckpt.is_file():
            return Path(run_dir), ckpt
        if holds_a_run(Path(run_dir)):  # starting over in it would mix two runs' logs and checkpoints
            raise NlpfError(f"resume=auto: run_dir={run_dir} holds a run but no checkpoint to resume from "
                            f"({LIGHTNING_CKPT} is missing: it stopped before its first epoch end or "
                            "trainer.checkpoint_every_n_steps)",
                            hint="start again with a new run_dir (or delete this one)")
        return Path(run_dir), None
    found = latest_interrupted(experiment_name)
    if found is None:
        return None, None  # nothing to resume: start fresh
    return found, found / LIGHTNING_CKPT


# config groups a resumed run must keep: the saved weights and optimizer state were built for them
FIXED_ON_RESUME = ("model", "head", "objective", "tokenizer", "lora", "labels")


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
