"""Entity-level F1 for BIO tagging with seqeval's default (conlleval) semantics, computed on the device.

A chunk starts at B-X, or at I-X that follows O or another type; it ends before the next tag that does
not continue it. A predicted entity counts when its type, start and end all equal a gold entity's.
"""
from __future__ import annotations

import torch
from torchmetrics import Metric

IGNORE_INDEX = -100


def parse_tags(names: list[str]) -> tuple[list[int], list[int], list[str]]:
    """Per tag id: prefix (0 O, 1 B, 2 I), entity type id (-1 for O), and the type names."""
    prefixes, types, type_names = [], [], []
    for name in names:
        if name == "O" or "-" not in name:
            prefixes.append(0)
            types.append(-1)
            continue
        prefix, _, entity = name.partition("-")
        if entity not in type_names:
            type_names.append(entity)
        prefixes.append({"B": 1, "S": 1, "I": 2, "E": 2}.get(prefix, 2))
        types.append(type_names.index(entity))
    return prefixes, types, type_names


def _compact(tags: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-align the kept positions of each row (word-level tags), padding with -100."""
    order = (~keep).to(torch.int8).sort(dim=1, stable=True).indices
    tags = tags.gather(1, order)
    valid = keep.gather(1, order)
    return tags.masked_fill(~valid, IGNORE_INDEX), valid


def chunks(tags: torch.Tensor, valid: torch.Tensor, prefix_of: torch.Tensor, type_of: torch.Tensor):
    """For [B, L] word tags: (starts [B, L] bool, end index of the chunk at each start, type per position)."""
    safe = tags.clamp_min(0)
    prefix = torch.where(valid, prefix_of[safe], torch.zeros_like(safe))
    kind = torch.where(valid, type_of[safe], torch.full_like(safe, -1))
    prev_kind = torch.nn.functional.pad(kind[:, :-1], (1, 0), value=-1)
    inside = kind >= 0
    starts = inside & ((prefix == 1) | (prev_kind != kind))
    next_kind = torch.nn.functional.pad(kind[:, 1:], (0, 1), value=-1)
    next_prefix = torch.nn.functional.pad(prefix[:, 1:], (0, 1), value=0)
    ends_here = inside & ((next_kind != kind) | (next_prefix == 1))
    length = tags.size(1)
    positions = torch.arange(length, device=tags.device).expand_as(tags)
    marked = torch.where(ends_here, positions, torch.full_like(positions, length))
    end_of = marked.flip(1).cummin(dim=1).values.flip(1)  # the first chunk end at or after each position
    return starts, end_of, kind


class EntityF1(Metric):
    """Micro entity-level precision, recall and F1 (seqeval default mode) over BIO tag ids."""

    full_state_update = False

    def __init__(self, tag_names: list[str], **kwargs):
        super().__init__(**kwargs)
        prefixes, types, self.type_names = parse_tags(list(tag_names))
        self.register_buffer("prefix_of", torch.tensor(prefixes), persistent=False)
        self.register_buffer("type_of", torch.tensor(types), persistent=False)
        for name in ("correct", "predicted", "gold"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """preds, target: [B, L] tag ids; target -100 marks positions that are not a word's first sub-token."""
        keep = target != IGNORE_INDEX
        gold, valid = _compact(target, keep)
        pred, _ = _compact(torch.where(keep, preds, torch.full_like(preds, IGNORE_INDEX)), keep)
        g_start, g_end, g_kind = chunks(gold, valid, self.prefix_of, self.type_of)
        p_start, p_end, p_kind = chunks(pred, valid, self.prefix_of, self.type_of)
        self.gold += g_start.sum()
        self.predicted += p_start.sum()
        self.correct += (g_start & p_start & (g_end == p_end) & (g_kind == p_kind)).sum()

    def compute(self) -> dict[str, torch.Tensor]:
        precision = self.correct / self.predicted.clamp_min(1)
        recall = self.correct / self.gold.clamp_min(1)
        f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
        return {"entity_precision": precision.float(), "entity_recall": recall.float(), "entity_f1": f1.float()}
