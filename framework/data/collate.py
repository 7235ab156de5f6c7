"""Batches for each task (the formats in docs/internals.md): dynamic padding to the longest example."""
from __future__ import annotations

import numpy as np
import torch

IGNORE = -100


def _pad(rows: list[np.ndarray], value: int, multiple: int | None, length: int | None = None) -> torch.Tensor:
    longest = length or max(len(r) for r in rows)
    if multiple:
        longest = -(-longest // multiple) * multiple
    out = np.full((len(rows), longest), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return torch.from_numpy(out)


class Collator:
    """Pads `input_ids` with the pad id, `token_type_ids` with 0 and sequence `labels` with -100, and builds
    `attention_mask`. Picklable, so DataLoader workers can use it."""

    def __init__(self, task: str, pad_id: int, pad_to_multiple_of: int | None = None):
        self.task, self.pad_id, self.multiple = task, pad_id, pad_to_multiple_of

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        if self.task == "lm":  # packed blocks already have one length
            return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in ("input_ids", "attention_mask")}
        ids = [it["input_ids"] for it in items]
        batch = {"input_ids": _pad(ids, self.pad_id, self.multiple)}
        width = batch["input_ids"].shape[1]
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, r in enumerate(ids):
            mask[i, : len(r)] = 1
        batch["attention_mask"] = torch.from_numpy(mask)
        if "token_type_ids" in items[0]:
            batch["token_type_ids"] = _pad([it["token_type_ids"] for it in items], 0, None, width)
        if self.task == "classification":
            batch["labels"] = torch.tensor([it["labels"] for it in items], dtype=torch.long)
        elif self.task == "regression":
            batch["labels"] = torch.tensor([it["labels"] for it in items], dtype=torch.float32)
        elif self.task == "multilabel":  # multi-hot [B, num_labels]
            batch["labels"] = torch.from_numpy(np.stack([it["labels"] for it in items]).astype(np.float32))
        elif self.task == "token_classification":
            batch["labels"] = _pad([it["labels"] for it in items], IGNORE, None, width)
        elif self.task == "seq2seq":
            batch["labels"] = _pad([it["labels"] for it in items], IGNORE, self.multiple)
        elif self.task == "qa":
            for key in ("start_positions", "end_positions"):
                batch[key] = torch.tensor([it[key] for it in items], dtype=torch.long)
        return batch
