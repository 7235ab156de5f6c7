"""Multi-label sequence classification: any number of labels per sequence (Hugging Face's
problem_type="multi_label_classification"), a binary cross-entropy per label."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from framework.errors import ConfigError
from plugins.objectives.base import check_one_per_label
from plugins.objectives.classification import SequenceClassification


class MultiLabelClassification(SequenceClassification):
    """The classification objective's forward (one logit per label) with BCE-with-logits against a multi-hot
    target, averaged over labels and examples as `torch.nn.BCEWithLogitsLoss` (and transformers) do."""

    task = "multilabel"

    def __init__(self, label_smoothing: float = 0.0, pos_weight: list | None = None):
        super().__init__(label_smoothing)
        self.pos_weight = torch.tensor(pos_weight, dtype=torch.float) if pos_weight is not None else None

    def check_labels(self, labels) -> None:
        check_one_per_label(self.pos_weight, labels, "pos_weight")

    def loss(self, output, batch):
        logits, target = output.logits.float(), batch["labels"].float()
        if logits.shape != target.shape:
            raise ConfigError(f"the head gives {logits.shape[-1]} outputs per text, but there are {target.shape[-1]} "
                              "labels", hint="leave head.num_labels null (it is read from the labels)")
        smoothing = self.smoothing()  # training only; per label, as 2-class cross-entropy's label_smoothing
        if smoothing:
            target = target * (1 - smoothing) + smoothing / 2
        weight = self.pos_weight.to(logits.device) if self.pos_weight is not None else None
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)

    def count_targets(self, batch: dict) -> torch.Tensor:
        return torch.tensor(batch["labels"].numel(), device=batch["labels"].device)


def build(cfg, tokenizer=None) -> MultiLabelClassification:
    """Multi-label classification objective: one sigmoid per label, binary cross-entropy with logits.

    Args:
        cfg.pos_weight: one weight per label for its positive examples (> 1 raises recall); null weighs all 1.
        cfg.label_smoothing: targets become 1 - s/2 and s/2, in the training loss only.
    Pair it with head=sequence_classification (num_labels is the number of labels).
    """
    pos_weight = cfg.get("pos_weight")
    return MultiLabelClassification(float(cfg.get("label_smoothing") or 0.0),
                                    [float(w) for w in pos_weight] if pos_weight is not None else None)
