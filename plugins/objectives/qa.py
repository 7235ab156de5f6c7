"""Extractive QA: cross-entropy of the answer's start and end positions, averaged."""
from __future__ import annotations

import torch.nn.functional as F

from plugins.objectives.base import Objective


class ExtractiveQA(Objective):
    task = "qa"

    def __init__(self, max_answer_length: int = 30):
        self.max_answer_length = max_answer_length

    def loss(self, output, batch):
        logits = output.logits.float()  # [B, L, 2]
        length = logits.size(1)
        # answers cut off by truncation point outside the sequence: ignore them
        start = batch["start_positions"].masked_fill(batch["start_positions"] >= length, -100)
        end = batch["end_positions"].masked_fill(batch["end_positions"] >= length, -100)
        return (F.cross_entropy(logits[..., 0], start, ignore_index=-100)
                + F.cross_entropy(logits[..., 1], end, ignore_index=-100)) / 2


def build(cfg, tokenizer=None) -> ExtractiveQA:
    """Extractive question answering objective.

    Args:
        cfg.max_answer_length: longest answer in tokens that span decoding considers at evaluation.
    """
    return ExtractiveQA(int(cfg.max_answer_length))
