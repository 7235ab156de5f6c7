"""Every Lightning checkpoint nlpf writes is a point Lightning resumes from exactly.

Lightning 2.x resumes exactly from a checkpoint taken after a training step. Two other moments get a checkpoint:

- during validation (a SIGTERM or Ctrl+C stops it after the current batch): Lightning would take the half-run
  validation for a finished one and skip it. The checkpoint is written as taken just before validation, which the
  resumed run runs again from its first batch (with the random states of that moment: RngStates);
- at an epoch end (the end-of-epoch checkpoint, or a signal during the epoch-end hooks): Lightning would count
  the epoch end twice (the next epoch's number skipped, its batches skipped by the data loader's position) and
  log every later step one too far. The checkpoint is written as taken right after the epoch's validation, before
  its epoch end, which the resumed run goes through once (already finished callbacks do nothing twice); the
  logging step counter is put back at the next epoch start.

`ResumePoint.on_save_checkpoint` rewrites the loop counters of the checkpoint accordingly.
"""
from __future__ import annotations

import pytorch_lightning as pl

_FIT = "fit_loop"


def _set(progress: dict, **values: int) -> None:
    for part in ("total", "current"):
        progress[part].update(values)


def before_validation(fit: dict) -> None:
    """Loop state of a validation that was stopped midway: the same as one that stopped before its first batch
    finished, so that the resumed run runs all of it."""
    val = fit["epoch_loop.val_loop.batch_progress"]
    _set(val, ready=1, started=1, processed=0, completed=0)
    val["is_last_batch"] = False


def ended_epoch(fit: dict) -> int | None:
    """The epoch whose end has been reached (its epoch-end hooks running or done), else None."""
    current = fit["epoch_progress"]["current"]
    return current["started"] - 1 if current["processed"] == current["started"] > 0 else None


def before_epoch_end(fit: dict, epoch: int) -> None:
    """Loop state at an epoch end: as after the epoch's last step and validation, before the epoch-end hooks."""
    progress = fit["epoch_progress"]
    for part in ("total", "current"):
        started = progress[part]["started"]
        progress[part].update(processed=started - 1, completed=started - 1)
    for state in fit.get("state_dict", {}).get("combined_loader", []) or []:
        if isinstance(state, dict) and "epoch" in state:
            state["epoch"] = epoch  # its batches are all done; the next epoch starts from its first batch


class ResumePoint(pl.Callback):
    """Rewrites the loop state of each Lightning checkpoint into one Lightning resumes exactly (see above)."""

    def __init__(self) -> None:
        self._validating = False
        self._batches_that_stepped: int | None = None  # restored at the first epoch start after an epoch-end resume

    def on_validation_start(self, trainer, pl_module) -> None:
        self._validating = not trainer.sanity_checking

    def on_validation_end(self, trainer, pl_module) -> None:
        self._validating = False

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        fit = (checkpoint.get("loops") or {}).get(_FIT)
        if not fit:
            return
        epoch = ended_epoch(fit)
        if self._validating:
            before_validation(fit)
        elif epoch is not None:
            before_epoch_end(fit, epoch)
            steps = self._batches_that_stepped  # not yet put back: a resumed run replaying this epoch end
            if steps is None:
                steps = trainer.fit_loop.epoch_loop._batches_that_stepped
            checkpoint.setdefault("callbacks", {})[self.state_key] = {"batches_that_stepped": steps}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._batches_that_stepped = state_dict.get("batches_that_stepped")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        # replaying the epoch end advances Lightning's logging step once more than the uninterrupted run did
        if self._batches_that_stepped is not None:
            trainer.fit_loop.epoch_loop._batches_that_stepped = self._batches_that_stepped
            self._batches_that_stepped = None
