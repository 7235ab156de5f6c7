"""Causal language modelling: predict token t+1 from tokens <= t."""
from __future__ import annotations

import torch.nn.functional as F

from plugins.objectives.base import IGNORE_INDEX, VocabularyObjective


class CausalLM(VocabularyObjective):
    task = "lm"
    model_inputs = ("input_ids", "attention_mask")

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def prepare(self, batch: dict) -> dict:
        if "labels" not in batch:
            labels = batch["input_ids"].clone()
            if batch.get("attention_mask") is not None:
                labels = labels.masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
            batch = {**batch, "labels": labels}
        return batch

    def count_targets(self, batch):
        return (batch["labels"][:, 1:] != IGNORE_INDEX).sum()

    def targets(self, batch):
        # logits at t predict the label at t+1; shifting the labels (not slicing the logits) avoids a copy
        # of the [B, L, V] logits, the largest tensor of the step
        return F.pad(batch["labels"][:, 1:], (0, 1), value=IGNORE_INDEX)


def build(cfg, tokenizer=None) -> CausalLM:
    """Causal LM objective.

    Args:
        cfg.label_smoothing: share of probability mass spread over the vocabulary (0 = plain cross-entropy).
    """
    return CausalLM(float(cfg.label_smoothing))
