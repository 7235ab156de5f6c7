"""Sequence and token classification: cross-entropy over labels (-100 positions ignored)."""
from __future__ import annotations

import torch

from framework.model import takes_output_mask
from plugins.objectives.base import Objective, check_one_per_label, cross_entropy, is_compiled


class SequenceClassification(Objective):
    task = "classification"

    def __init__(self, label_smoothing: float = 0.0, class_weights: list | None = None):
        self.label_smoothing = label_smoothing
        self.class_weights = torch.tensor(class_weights, dtype=torch.float) if class_weights else None

    def forward(self, model, batch: dict):
        """With [CLS] pooling on an encoder that supports `output_mask`, its last layer runs at the first
        position only (keys and values still from every position): the same logits for about a sixth of that
        layer's work. last_hidden_state is then [B, hidden], the first position's state."""
        backbone, head = getattr(model, "backbone", None), getattr(model, "head", None)
        if (is_compiled(model) or backbone is None or getattr(head, "pooling", None) != "cls"
                or getattr(backbone, "kind", None) != "encoder" or not takes_output_mask(backbone)):
            return model(**self.inputs(batch))
        from framework.model import ModelOutput

        inputs = self.inputs(batch)
        first = torch.zeros_like(inputs["input_ids"], dtype=torch.bool)
        first[:, 0] = True
        out = backbone(**inputs, output_mask=first)
        return ModelOutput(head(out.last_hidden_state[:, None]), out.last_hidden_state, out.hidden_states)

    def check_labels(self, labels: list[str]) -> None:
        check_one_per_label(self.class_weights, labels, "class_weights")

    def loss(self, output, batch):
        weight = self.class_weights.to(output.logits.device) if self.class_weights is not None else None
        return cross_entropy(output.logits, batch["labels"], self.smoothing(), weight)  # smoothing: training only


class TokenClassification(SequenceClassification):
    task = "token_classification"


def build_sequence(cfg, tokenizer=None) -> SequenceClassification:
    """Sequence classification objective.

    Args:
        cfg.label_smoothing: share of probability mass spread over the labels.
        cfg.class_weights: one loss weight per label (for imbalanced data); null weighs all labels 1.
    """
    return SequenceClassification(float(cfg.label_smoothing), list(cfg.class_weights) if cfg.class_weights else None)


def build_token(cfg, tokenizer=None) -> TokenClassification:
    """Token classification objective (NER, POS): one label per word, on its first sub-token.

    Args:
        cfg.label_smoothing: share of probability mass spread over the labels.
        cfg.class_weights: one loss weight per label; null weighs all labels 1.
    """
    return TokenClassification(float(cfg.label_smoothing), list(cfg.class_weights) if cfg.class_weights else None)
