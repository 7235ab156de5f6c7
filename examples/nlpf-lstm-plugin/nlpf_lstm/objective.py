"""Word dropout LM: next-token prediction where some input words are replaced by <unk>, a classic
regulariser of recurrent language models. The targets stay the original words."""
from __future__ import annotations

import torch

from framework.errors import ConfigError
from plugins.objectives.base import IGNORE_INDEX, Objective, cross_entropy, special_id


class WordDropoutLM(Objective):
    task = "lm"
    model_inputs = ("input_ids", "attention_mask")

    def __init__(self, word_dropout: float, unk_id: int, protected_ids: list[int]):
        self.word_dropout = word_dropout
        self.unk_id = unk_id
        self.protected_ids = torch.tensor(protected_ids, dtype=torch.long)

    def prepare(self, batch: dict) -> dict:
        ids = batch["input_ids"]
        labels = batch.get("labels")
        if labels is None:
            labels = ids.clone()
            if batch.get("attention_mask") is not None:
                labels = labels.masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
        if not torch.is_grad_enabled() or self.word_dropout == 0:  # evaluation scores the clean text
            return {**batch, "labels": labels}
        drop = torch.rand(ids.shape, device=ids.device) < self.word_dropout
        drop &= ~torch.isin(ids, self.protected_ids.to(ids.device))  # never drop <s>, </s>, <pad>
        return {**batch, "input_ids": ids.masked_fill(drop, self.unk_id), "labels": labels}

    def count_targets(self, batch: dict) -> torch.Tensor:
        return (batch["labels"][:, 1:] != IGNORE_INDEX).sum()

    def loss(self, output, batch):
        # logits at t predict the (original) token at t+1
        return cross_entropy(output.logits[:, :-1], batch["labels"][:, 1:])


def build(cfg, tokenizer=None) -> WordDropoutLM:
    """Word dropout language-model objective.

    Args:
        cfg.word_dropout: probability of replacing each input token by <unk> (0 = plain causal LM).
        tokenizer: must have an unk token; its special tokens are never dropped.
    """
    if not 0.0 <= float(cfg.word_dropout) < 1.0:
        raise ConfigError(f"objective.word_dropout={cfg.word_dropout} must be in [0, 1)",
                          hint="a typical value is 0.1")
    unk = special_id(tokenizer, "unk", "word_dropout_lm")
    protected = sorted(tokenizer.special_ids - {unk}) if hasattr(tokenizer, "special_ids") else []
    return WordDropoutLM(float(cfg.word_dropout), unk, protected)
