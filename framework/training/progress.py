"""The progress bar: Lightning's rich bar, with an epoch label that reads right for step- or time-bound runs."""
from __future__ import annotations

from pytorch_lightning.callbacks import RichProgressBar


def epoch_label(epoch: int, max_epochs: int | None) -> str:
    """Lightning's 'Epoch 2/2' (counted from 0) for an epoch-bound run. A run bounded by steps or time has
    max_epochs -1, which Lightning's own bar prints as 'Epoch 4/-2'; it gets 'Epoch 4'."""
    return f"Epoch {epoch}/{max_epochs - 1}" if max_epochs is not None and max_epochs > 0 else f"Epoch {epoch}"


class ProgressBar(RichProgressBar):
    def _get_train_description(self, current_epoch: int) -> str:
        label = epoch_label(current_epoch, self.trainer.max_epochs)
        return f"{label:{len(self.validation_description)}}"  # padded as Lightning pads it, against flicker
