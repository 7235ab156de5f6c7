"""Sequence-to-sequence cross-entropy with teacher forcing (the decoder sees the shifted target)."""
from __future__ import annotations

from plugins.objectives.base import VocabularyObjective, shift_right, special_id


class Seq2Seq(VocabularyObjective):
    task = "seq2seq"
    model_inputs = ("input_ids", "attention_mask", "decoder_input_ids")

    def __init__(self, start_id: int, pad_id: int, label_smoothing: float = 0.0):
        self.start_id, self.pad_id, self.label_smoothing = start_id, pad_id, label_smoothing

    def prepare(self, batch: dict) -> dict:
        if "decoder_input_ids" not in batch:
            batch = {**batch, "decoder_input_ids": shift_right(batch["labels"], self.start_id, self.pad_id)}
        return batch


def build(cfg, tokenizer) -> Seq2Seq:
    """Seq2seq objective.

    Args:
        cfg.label_smoothing: share of probability mass spread over the vocabulary (0.1 is common for translation).
        tokenizer: its pad token also starts the decoder (as in T5).
    """
    pad = special_id(tokenizer, "pad", "seq2seq")
    return Seq2Seq(pad, pad, float(cfg.label_smoothing))
