"""Extractive QA: best-span decoding and exact match / F1 over token spans (SQuAD-style overlap)."""
from __future__ import annotations

import torch
from torchmetrics import Metric


def best_spans(logits: torch.Tensor, max_answer_length: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, L, 2] start/end logits -> (start, end) maximising start+end with start <= end < start+max."""
    start, end = logits[..., 0].float(), logits[..., 1].float()
    scores = start.unsqueeze(2) + end.unsqueeze(1)  # [B, L(start), L(end)]
    length = logits.size(1)
    idx = torch.arange(length, device=logits.device)
    allowed = (idx.unsqueeze(0) >= idx.unsqueeze(1)) & (idx.unsqueeze(0) < idx.unsqueeze(1) + max_answer_length)
    scores = scores.masked_fill(~allowed, float("-inf"))
    flat = scores.flatten(1).argmax(dim=1)
    return flat // length, flat % length


class SpanMatch(Metric):
    """Mean exact match and token-overlap F1 between predicted and gold [start, end] spans."""

    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("exact", "f1", "count"):
            self.add_state(name, default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, pred_start, pred_end, gold_start, gold_end) -> None:
        overlap = (torch.minimum(pred_end, gold_end) - torch.maximum(pred_start, gold_start) + 1).clamp_min(0).float()
        precision = overlap / (pred_end - pred_start + 1).clamp_min(1)
        recall = overlap / (gold_end - gold_start + 1).clamp_min(1)
        f1 = torch.where(overlap > 0, 2 * precision * recall / (precision + recall).clamp_min(1e-12), overlap)
        self.exact += ((pred_start == gold_start) & (pred_end == gold_end)).sum()
        self.f1 += f1.sum()
        self.count += pred_start.numel()

    def compute(self):
        n = self.count.clamp_min(1)
        return {"exact_match": self.exact / n, "f1": self.f1 / n}
