"""Runs whose every process was started at once by torchrun or SLURM's srun.

Lightning's own launcher (`trainer=ddp` from one command) starts ranks 1.. from rank 0, which hands them the
run directory through the environment (framework/training/rundir.py). torchrun and srun start every rank
at once, so rank 0 hands the run over another way, and the others wait for it:

- torchrun: through the launcher's own key/value store (every rank of one launch reaches it at MASTER_ADDR:
  MASTER_PORT; a new launch starts a new store, and rank 0 deletes the key once every rank has joined), so
  nothing is written to disk;
- srun: through a small file beside the run directory, named after the SLURM job, step and restart count
  (unique to the launch), removed by rank 0 once every rank has joined the process group (a file that
  carried rank 0's error, which rank 0 cannot know when all have read, is removed by a launch an hour later).

Rank 0 also hands over its error when it stops before training, so the other ranks stop at once.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Optional, Sequence

from framework.errors import NlpfError
from framework.training.rundir import is_spawned_rank

TIMEOUT_ENV = "NLPF_LAUNCH_TIMEOUT"


@dataclass(frozen=True)
class Launch:
    """This process's place in a torchrun/srun launch. `key` names the launch (the same in all its ranks,
    another in the next launch); `store` is torchrun's key/value store (host, port) when it has one."""

    rank: int
    world_size: int
    key: str
    store: Optional[tuple[str, int]] = None


def external_launch() -> Optional[Launch]:
    """The torchrun or srun launch this process belongs to, or None (one process, or Lightning's launcher)."""
    env = os.environ
    if "TORCHELASTIC_RUN_ID" in env and int(env.get("WORLD_SIZE", "1")) > 1:
        store = None
        if env.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            store = (env.get("MASTER_ADDR", "localhost"), int(env.get("MASTER_PORT", "29500")))
        key = f"nlpf/run_dir/{env.get('TORCHELASTIC_RESTART_COUNT', '0')}"
        if store is None:  # no shared store: a file, named as uniquely as torchrun allows
            key = _file_key("torchrun", env["TORCHELASTIC_RUN_ID"], env.get("MASTER_ADDR", ""),
                            env.get("MASTER_PORT", ""), env.get("TORCHELASTIC_RESTART_COUNT", "0"))
        return Launch(int(env.get("RANK", "0")), int(env["WORLD_SIZE"]), key, store)
    # srun sets SLURM_STEP_NUM_TASKS for the processes it starts; a batch script of a several-task job (no
    # srun) has SLURM_NTASKS > 1 too, but it is one process
    tasks = int(env.get("SLURM_STEP_NUM_TASKS", "1"))
    if tasks > 1 and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        key = _file_key("slurm", env.get("SLURM_JOB_ID", ""), env.get("SLURM_STEP_ID", "0"),
                        env.get("SLURM_RESTART_COUNT", "0"))
        return Launch(int(env.get("SLURM_PROCID", "0")), tasks, key)
    return None


def cluster_environment() -> Optional[str]:
    """The name of the multi-node launch this process belongs to, as Lightning detects it (SLURM, torchrun,
    LSF), or 'MASTER_ADDR' for processes started on each node with MASTER_ADDR and their rank set (by hand:
    NODE_RANK; Kubeflow: RANK); None when nothing started other nodes (trainer.num_nodes > 1 would then wait
    forever for them)."""
    from lightning_fabric.plugins.environments import LSFEnvironment, SLURMEnvironment, TorchElasticEnvironment

    for environment in (SLURMEnvironment, TorchElasticEnvironment, LSFEnvironment):
        if environment.detect():
            return environment.__name__
    env = os.environ
    if "MASTER_ADDR" in env and any(key in env for key in ("NODE_RANK", "GROUP_RANK", "RANK")):
        return "MASTER_ADDR"
    return None


def _file_key(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


def is_secondary_rank() -> bool:
    """True in every process of a multi-process run but rank 0 (which alone creates and cleans up the run)."""
    launch = external_launch()
    return launch.rank != 0 if launch is not None else is_spawned_rank()


def check_world_size(launch: Launch, devices, num_nodes: int) -> None:
    """torchrun/srun started `world_size` processes; the trainer must use one device per process."""
    if isinstance(devices, Sequence) and not isinstance(devices, str):  # a list, also as OmegaConf's ListConfig
        per_node = len(devices)
    elif isinstance(devices, str) and devices.replace(",", "").strip().isdigit():
        per_node = len([d for d in devices.split(",") if d.strip()]) if "," in devices else int(devices)
    elif isinstance(devices, int) and devices > 0:
        per_node = devices
    else:  # auto / -1: Lightning counts them
        return
    if per_node * num_nodes != launch.world_size:
        raise NlpfError(
            f"the launcher started {launch.world_size} processes, but the trainer uses {per_node} device(s) on "
            f"{num_nodes} node(s): every process would train on its own",
            hint=f"use one device per process: trainer=ddp with trainer.devices x trainer.num_nodes = "
                 f"{launch.world_size} (e.g. trainer.devices={launch.world_size // max(num_nodes, 1) or 1})")


def launch_timeout() -> float:
    value = os.environ.get(TIMEOUT_ENV, "600")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e8:  # also not inf or nan
        raise NlpfError(f"{TIMEOUT_ENV}={value!r} is not a number of seconds", hint=f"e.g. {TIMEOUT_ENV}=600")
    return seconds


class Handoff:
    """Rank 0 -> the other ranks of a launch: the run directory and checkpoint to resume, or rank 0's error."""

    def __init__(self, launch: Launch, run_dir: Optional[str], experiment_name: str, root: str | os.PathLike = "runs"):
        self.launch = launch
        # beside `run_dir` when given, else in runs/<experiment>/ (on a filesystem every node sees)
        base = Path(run_dir).parent if run_dir else Path(root) / experiment_name
        self.path = None if launch.store else base / f".launch-{launch.key}.json"

    def _store(self, timeout: float):
        from torch.distributed import TCPStore

        host, port = self.launch.store
        return TCPStore(host, port, is_master=False, timeout=timedelta(seconds=timeout))

    def send(self, run_dir: Optional[Path] = None, ckpt: Optional[Path] = None, error: Optional[str] = None) -> None:
        payload = json.dumps({"run_dir": str(run_dir) if run_dir else None, "ckpt": str(ckpt) if ckpt else None,
                              "error": error})
        _written.append(self)
        if self.path is None:
            self._store(launch_timeout()).set(self.launch.key, payload)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for old in self.path.parent.glob(".launch-*.json"):  # an earlier launch's error handoff: nobody reads it now
            try:
                if old.stat().st_mtime < time.time() - 3600:
                    old.unlink()
            except OSError:
                pass
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(payload)
        os.replace(tmp, self.path)

    def receive(self) -> tuple[Path, Optional[Path]]:
        """(run directory, checkpoint to resume or None); raises rank 0's error, or after the timeout."""
        timeout = launch_timeout()
        found = self._from_store(timeout) if self.path is None else self._from_file(timeout)
        if found.get("error"):
            raise NlpfError(f"rank 0 stopped before training: {found['error']}",
                            hint="see rank 0's output; this rank stops with it")
        return Path(found["run_dir"]), (Path(found["ckpt"]) if found["ckpt"] else None)

    def _from_store(self, timeout: float) -> dict:
        try:
            return json.loads(self._store(timeout).get(self.launch.key))
        except RuntimeError:  # torch's DistStoreError: the wait timed out
            raise self._waited(timeout, f"torchrun's store at {self.launch.store[0]}:{self.launch.store[1]}") from None

    def _from_file(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return json.loads(self.path.read_text())
            except (OSError, ValueError):
                time.sleep(0.2)  # not written yet (or being replaced)
        raise self._waited(timeout, f"{self.path} never appeared")

    def _waited(self, timeout: float, what: str) -> NlpfError:
        hint = "check rank 0's output for its error"
        if self.path is not None:
            hint = "every node must see the same run directory: run from a shared filesystem or pass run_dir=PATH on one; " + hint
        return NlpfError(f"rank {self.launch.rank} waited {timeout:.0f} s for rank 0 to create the run directory ({what})",
                         hint=hint + f" ({TIMEOUT_ENV} sets the wait)")


_written: list[Handoff] = []  # handoffs this process (rank 0) sent


def remove_handoffs() -> None:
    """Rank 0, once every rank has joined the process group (so has read the handoff), or on failure. The
    store's key goes too: after an elastic restart that keeps torchrun's restart count (a node joined or
    left), the ranks then wait for rank 0's new answer instead of reading the old one."""
    while _written:
        handoff = _written.pop()
        if handoff.path is not None:
            handoff.path.unlink(missing_ok=True)
            continue
        try:
            handoff._store(10.0).delete_key(handoff.launch.key)
        except RuntimeError:  # the store is gone (torchrun stopped): nothing left to read it
            pass
