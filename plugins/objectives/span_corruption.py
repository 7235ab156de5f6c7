"""T5 span corruption. Random spans (density `noise_density`, mean length `mean_noise_span_length`)
are each replaced in the input by one sentinel; the target lists each sentinel followed by the span it hid:

    input : The <X> walks in <Y> park          target: <X> cute dog <Y> the <Z>
"""
from __future__ import annotations

import torch

from framework.errors import ConfigError
from plugins.objectives.base import IGNORE_INDEX, VocabularyObjective, shift_right, special_id


def random_segmentation(num_items: int, num_segments: int, rows: int, device) -> torch.Tensor:
    """[rows, num_segments] positive lengths summing to num_items, uniformly random per row."""
    if num_segments == 1:
        return torch.full((rows, 1), num_items, device=device)
    cuts = torch.rand(rows, num_items - 1, device=device).argsort(dim=1)[:, : num_segments - 1] + 1
    cuts = cuts.sort(dim=1).values
    bounds = torch.cat([cuts.new_zeros(rows, 1), cuts, cuts.new_full((rows, 1), num_items)], dim=1)
    return bounds.diff(dim=1)


def noise_mask(length: int, rows: int, density: float, mean_span: float, device) -> torch.Tensor:
    """[rows, length] bool: alternating non-noise / noise spans, starting with non-noise (as in T5)."""
    num_noise = min(max(round(length * density), 1), length - 1)
    num_spans = max(1, min(round(num_noise / mean_span), num_noise, length - num_noise))
    noise_lengths = random_segmentation(num_noise, num_spans, rows, device)
    keep_lengths = random_segmentation(length - num_noise, num_spans, rows, device)
    ends = torch.stack([keep_lengths, noise_lengths], dim=2).reshape(rows, 2 * num_spans).cumsum(dim=1)
    positions = torch.arange(length, device=device).expand(rows, length).contiguous()
    segment = torch.searchsorted(ends, positions, right=True)
    return segment % 2 == 1


def _collapse(tokens: torch.Tensor, drop: torch.Tensor, valid: torch.Tensor, sentinels: torch.Tensor,
              eos_id: int, pad_id: int) -> torch.Tensor:
    """Replace each run of `drop` positions by one sentinel (numbered by run), remove the rest of the run,
    left-align the rows and end each with EOS."""
    starts = drop & ~torch.nn.functional.pad(drop[:, :-1], (1, 0), value=False)
    run = (starts.cumsum(dim=1) - 1).clamp(0, len(sentinels) - 1)
    values = torch.where(starts, sentinels[run], tokens)
    keep = valid & (~drop | starts)
    order = (~keep).to(torch.int8).sort(dim=1, stable=True).indices
    out = values.gather(1, order)
    lengths = keep.sum(dim=1, keepdim=True)
    positions = torch.arange(out.size(1) + 1, device=out.device).expand(out.size(0), -1)
    out = torch.nn.functional.pad(out, (0, 1), value=pad_id)
    out = torch.where(positions < lengths, out, torch.full_like(out, pad_id))
    out = torch.where(positions == lengths, torch.full_like(out, eos_id), out)
    return out[:, : int(lengths.max()) + 1]


class SpanCorruption(VocabularyObjective):
    task = "lm"
    model_inputs = ("input_ids", "attention_mask", "decoder_input_ids")

    def __init__(self, sentinels: list[int], pad_id: int, eos_id: int, noise_density=0.15, mean_span=3.0):
        self.sentinels = torch.tensor(sentinels, dtype=torch.long)
        self.pad_id, self.eos_id = pad_id, eos_id
        self.density, self.mean_span = noise_density, mean_span

    def prepare(self, batch: dict) -> dict:
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        valid = mask.bool() if mask is not None else torch.ones_like(ids, dtype=torch.bool)
        lengths = valid.sum(dim=1)
        noise = torch.zeros_like(valid)
        for n in lengths.unique().tolist():  # rows of one length share one vectorised draw (packed: one group)
            if n < 2:
                continue
            rows = (lengths == n).nonzero().squeeze(1)
            noise[rows, :n] = noise_mask(n, len(rows), self.density, self.mean_span, ids.device)
        # sequences are left-aligned, so noise never touches padding
        sentinels = self.sentinels.to(ids.device)
        inputs = _collapse(ids, noise, valid, sentinels, self.eos_id, self.pad_id)
        targets = _collapse(ids, ~noise & valid, valid, sentinels, self.eos_id, self.pad_id)
        labels = targets.masked_fill(targets == self.pad_id, IGNORE_INDEX)
        return {
            "input_ids": inputs,
            "attention_mask": (inputs != self.pad_id).long(),
            "labels": labels,
            "decoder_input_ids": shift_right(labels, self.pad_id, self.pad_id),
        }


def sentinel_ids(tokenizer, count: int = 100) -> list[int]:
    ids = getattr(tokenizer, "sentinel_ids", None)
    if ids is None and hasattr(tokenizer, "token_to_id"):
        ids = [tokenizer.token_to_id(f"<extra_id_{i}>") for i in range(count)]
        ids = [i for i in ids if i is not None]
    if not ids:
        raise ConfigError(
            "objective 'span_corruption' needs sentinel tokens <extra_id_0>, <extra_id_1>, ... in the tokenizer.",
            hint="use a tokenizer with sentinels: tokenizer=t5_sentencepiece (100 of them), or set "
                 "tokenizer.num_sentinels=100 on the byte or sentencepiece tokenizers",
        )
    return [int(i) for i in ids]


def build(cfg, tokenizer) -> SpanCorruption:
    """T5 span corruption objective.

    Args:
        cfg.noise_density: share of tokens hidden in noise spans (T5: 0.15).
        cfg.mean_noise_span_length: average length of a noise span (T5: 3).
        tokenizer: must have a pad token, an EOS token and sentinels <extra_id_N>.
    """
    if not 0 < cfg.noise_density < 1:
        raise ConfigError(f"objective.noise_density must be between 0 and 1, got {cfg.noise_density}",
                          hint="T5 uses objective.noise_density=0.15")
    if cfg.mean_noise_span_length < 1:
        raise ConfigError(f"objective.mean_noise_span_length must be >= 1, got {cfg.mean_noise_span_length}")
    return SpanCorruption(sentinel_ids(tokenizer), special_id(tokenizer, "pad", "span_corruption"),
                          special_id(tokenizer, "eos", "span_corruption"),
                          float(cfg.noise_density), float(cfg.mean_noise_span_length))
