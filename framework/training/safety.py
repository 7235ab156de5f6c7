"""Crash safety of training runs.

- `AtomicCheckpointIO`: Lightning checkpoints are written to a temporary file, fsynced and renamed, so
  `last.ckpt` is always a complete checkpoint; they are read back with `torch.load(weights_only=True)` only.
- `RngStates`: the Python, NumPy and torch random states travel in the checkpoint and are restored right
  before the first step after a resume, so dropout and masking continue exactly as without the interruption.
- `GracefulStop`: SIGTERM (cluster preemption; Lightning's handler) and SIGINT (Ctrl+C; ours) end training
  after the current step, save the Lightning checkpoint and nlpf's `last`, and `nlpf train` exits with
  128 + the signal number and says how to resume. A second Ctrl+C stops at once. Before the first step
  nothing is saved (framework.training.commands.StartupStop: an unstarted run's directory is removed).
- `ContinuingCSVLogger` + `ContinueLog`: a resumed run continues logs/metrics.csv instead of replacing it.
- `discard_unstarted_run`: a run that fails before its first step leaves no half-made run directory.
"""
from __future__ import annotations

import csv
import os
import pickle
import random
import signal
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities.exceptions import SIGTERMException

from framework.atomic import file_mode
from framework.errors import NlpfError
from framework.training.rundir import Preempted


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_training_checkpoint(path: Path) -> None:
    """Refuse a Lightning checkpoint that is not a torch zip archive or whose pickle references anything but
    plain data and tensors (a pickle can run code when loaded). Reads the pickle opcodes, never executes them."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise NlpfError(f"'{path}' is not a complete Lightning checkpoint (not a torch zip archive: truncated, "
                        "or a legacy/foreign file)",
                        hint="resume from a checkpoint written by `nlpf train` (RUN_DIR/checkpoints/lightning/last.ckpt)")
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as err:  # noqa: BLE001 - any parse failure means a damaged file
        raise NlpfError(f"cannot read the Lightning checkpoint '{path}': {err}",
                        hint="the file is truncated or corrupt; resume from an earlier run directory") from None
    if unsafe:
        raise NlpfError(f"refusing to load '{path}': its pickle refers to {', '.join(sorted(unsafe)[:5])}, "
                        "which could run code when loaded",
                        hint="nlpf only loads checkpoints holding tensors and plain data; never resume from a "
                        "checkpoint of unknown origin")


def load_training_checkpoint(path: Path, map_location: Any = "cpu") -> dict:
    """torch.load with weights_only=True, its errors turned into NlpfErrors that name the file."""
    check_training_checkpoint(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise NlpfError(f"refusing to load '{path}': it holds objects other than tensors and plain data "
                        f"({str(err).splitlines()[0]})",
                        hint="nlpf only loads plain checkpoints written by `nlpf train`") from None
    except (RuntimeError, EOFError, ValueError) as err:
        raise NlpfError(f"cannot read the Lightning checkpoint '{path}': {str(err).splitlines()[0]}",
                        hint="the file is truncated or corrupt; resume from an earlier run directory") from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file in the same directory, fsync, rename over the target, fsync the directory."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), file_mode())  # mkstemp's 0600: the umask's mode, as open() would give
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            fsync_dir(path.parent)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        checkpoint = load_training_checkpoint(Path(path), map_location or "cpu")
        callbacks = checkpoint.get("callbacks")
        if isinstance(callbacks, dict):  # checkpoints of earlier versions keyed it by its settings
            from framework.training.callbacks import STATE_KEY

            for key in [k for k in callbacks if isinstance(k, str) and k.startswith(STATE_KEY + "{")]:
                callbacks[STATE_KEY] = callbacks.pop(key)
        return checkpoint


def _rng_states() -> dict:
    np_state = np.random.get_state()
    states = {"python": random.getstate(), "torch": torch.get_rng_state(),
              # as tensors and ints: numpy arrays would need pickle's full power to load
              "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                        int(np_state[3]), float(np_state[4]))}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _loaders(trainer) -> list:
    out = []
    for loaders in (trainer.fit_loop._combined_loader, trainer.fit_loop.epoch_loop.val_loop._combined_loader):
        out += list(getattr(loaders, "flattened", None) or [])
    return out


class RngStates(pl.Callback):
    """Saves the random states with every checkpoint and restores them right before the first step after a resume
    (not when the checkpoint is read: building the data loader draws from the torch generator in between), or
    before the first validation batch when the run was stopped during validation (which runs again from the
    start, with the states it started with).

    Data loaders get their own generator: a DataLoader draws its iterator's seed from the global torch generator
    each time an iterator starts (every epoch, every validation), so where a resumed run starts its iterators
    would shift the numbers dropout and masking see after an epoch-end resume."""

    def __init__(self) -> None:
        self._pending: dict | None = None
        self._before_validation: dict | None = None

    def state_dict(self) -> dict:
        # restored but not yet applied (a checkpoint taken while a resumed run replays an epoch end): those
        if self._pending is not None:
            return self._pending
        return self._before_validation if self._before_validation is not None else _rng_states()

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def _restore(self) -> None:
        if self._pending is not None:
            _set_rng_states(self._pending)
            self._pending = None

    def _own_generators(self, trainer) -> None:
        for loader in _loaders(trainer):
            if isinstance(loader, torch.utils.data.DataLoader) and loader.generator is None:
                loader.generator = torch.Generator()  # seeds only worker processes, never the model's numbers

    def on_train_start(self, trainer, pl_module) -> None:
        self._own_generators(trainer)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._own_generators(trainer)  # the train loader can be built again (reload_dataloaders_every_n_epochs)

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._restore()
            self._before_validation = _rng_states()

    def on_validation_end(self, trainer, pl_module) -> None:
        self._before_validation = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._restore()


class GracefulStop(pl.Callback):
    """Stop after the current step on SIGTERM or SIGINT and save the checkpoints to resume from."""

    def __init__(self, lightning_ckpt: Path, save_nlpf: Callable[[Path, int], None], nlpf_last: Path,
                 startup=None):
        self.lightning_ckpt, self.save_nlpf, self.nlpf_last = Path(lightning_ckpt), save_nlpf, Path(nlpf_last)
        self.signal_name: str | None = None
        self.saved: list[Path] = []
        self.stepped = False  # whether this process trained a step (else there is nothing new to save)
        self.startup = startup  # commands.StartupStop, switched off after the first step
        self._previous_sigint = None
        self._trainer = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        import threading

        if stage == "fit" and threading.current_thread() is threading.main_thread():
            self._trainer = trainer
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def _on_sigint(self, signum, frame) -> None:
        if self.signal_name is not None:
            raise KeyboardInterrupt  # a second Ctrl+C: stop now, without a checkpoint
        self.signal_name = "SIGINT"
        # the loops check this flag after every step (SIGTERM sets it through Lightning's handler)
        self._trainer._signal_connector.received_sigterm = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.stepped = True
        if self.startup is not None:
            self.startup.active = False

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return  # errors (a NaN loss, a bad batch) never overwrite the last good checkpoint
        self.signal_name = self.signal_name or "SIGTERM"
        if not self.stepped:
            return  # stopped before its first step: a resumed run's checkpoint is still the one to resume from
        # weights_only=False said outright (Lightning logs its default): this is the full training state, which
        # is read back with torch.load(weights_only=True) all the same
        trainer.save_checkpoint(str(self.lightning_ckpt), weights_only=False)
        self.save_nlpf(self.nlpf_last, trainer.global_step)  # every rank: FSDP gathers the weights; rank 0 writes
        self.saved = [self.lightning_ckpt, self.nlpf_last] if trainer.is_global_zero else []

    def preempted(self, trainer) -> Preempted:
        return Preempted(self.signal_name or "SIGTERM", trainer.global_step, self.saved)


class _ContinuingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; this one continues it (a resumed run)."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))  # new columns rewrite the file with the union

    def drop_from(self, step: int) -> None:
        """Forget the rows a killed run logged after its checkpoint: the resumed run logs those steps again."""
        if not os.path.isfile(self.metrics_file_path):
            return
        with open(self.metrics_file_path, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or [], list(reader)
        kept = [r for r in rows if not (r.get("step") or "").isdigit() or int(r["step"]) < step]
        if len(kept) == len(rows):
            return
        tmp = self.metrics_file_path + ".tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, self.metrics_file_path)


class ContinuingCSVLogger(CSVLogger):
    """RUN_DIR/logs/metrics.csv that a resumed run continues instead of replacing."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


class ContinueLog(pl.Callback):
    """On resume, trims the CSV log to the restored step before training continues."""

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.ckpt_path and trainer.is_global_zero:
            for logger in trainer.loggers:
                if isinstance(logger, ContinuingCSVLogger):
                    logger.experiment.drop_from(trainer.global_step)


def discard_unstarted_run(run_dir: Path) -> None:
    """After a failure before the first training step: remove what the run wrote (frozen config, empty logs),
    so a mistake leaves no half-made run directory behind. Only these files, never anything else there;
    a directory holding checkpoints (a resumed run) is kept as it is."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or (run_dir / "metrics.json").exists() \
            or any(p.is_file() for p in (run_dir / "checkpoints").rglob("*")):
        return
    ours = [run_dir / "resolved.yaml", run_dir / "logs" / "metrics.csv", run_dir / "logs" / "hparams.yaml",
            run_dir / "tensorboard" / "hparams.yaml", *(run_dir / "tensorboard").glob("events.out.tfevents.*")]
    for path in ours:
        if path.is_file():
            path.unlink()
    for directory in (run_dir / "logs", run_dir / "tensorboard", run_dir / "checkpoints" / "lightning",
                      run_dir / "checkpoints", run_dir):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    runs = Path("runs").resolve()
    if run_dir.resolve().parent.parent == runs:  # the default runs/<experiment>/<time>: also its empty parents
        for directory in (run_dir.resolve().parent, runs):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
