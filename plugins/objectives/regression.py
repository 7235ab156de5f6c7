"""Sequence regression: one number per sequence (a rating, a similarity score), mean squared error."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from plugins.objectives.classification import SequenceClassification


class SequenceRegression(SequenceClassification):
    """The classification objective's forward (a head with one output) with a squared-error loss."""

    task = "regression"

    def loss(self, output, batch):
        logits = output.logits
        if logits.shape[-1] != 1:
            from framework.errors import ConfigError

            raise ConfigError(f"regression needs a head with one output, got {logits.shape[-1]}",
                              hint="set head.num_labels=1 (or leave it null: regression sets it)")
        return F.mse_loss(logits.reshape(-1).float(), batch["labels"].float())

    def count_targets(self, batch: dict) -> torch.Tensor:
        return torch.tensor(batch["labels"].numel(), device=batch["labels"].device)


def build(cfg, tokenizer=None) -> SequenceRegression:
    """Sequence regression objective: mean squared error between the head's single output and the label.
    No hyperparameters; pair it with head=sequence_classification (num_labels is set to 1)."""
    return SequenceRegression()
