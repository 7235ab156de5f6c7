"""BERT masked language modelling: choose 15% of the tokens; of those 80% become [MASK],
10% a random token and 10% stay; the model predicts the original token at the chosen positions."""
from __future__ import annotations

import torch

from framework.model import takes_output_mask
from plugins.objectives.base import (IGNORE_INDEX, LossOutput, Objective, cross_entropy, fusable_lm_head, special_id,
                                     special_ids, is_compiled, vocab_size)


def word_start_table(tokenizer, size: int) -> torch.Tensor | None:
    """A bool per vocabulary id: does this token start a word? None when the tokenizer cannot tell."""
    id_to_token = getattr(tokenizer, "id_to_token", None) or getattr(tokenizer, "convert_ids_to_tokens", None)
    if id_to_token is None:
        return None
    starts = torch.ones(size, dtype=torch.bool)
    for i in range(size):
        piece = id_to_token(i)
        if piece is None:
            continue
        if piece.startswith("##"):  # wordpiece continuation
            starts[i] = False
        elif piece[:1] not in ("\u2581", "\u0120", "[", "<") and _sentencepiece_style(tokenizer):
            starts[i] = False  # sentencepiece / byte-level BPE: a word starts with the space marker
    return starts


def _sentencepiece_style(tokenizer) -> bool:
    return getattr(tokenizer, "name", None) in ("sentencepiece", "bpe", "byte_bpe")


class MaskedLM(Objective):
    task = "lm"

    def __init__(self, mask_id: int, vocab: int, special: list[int], mask_probability=0.15,
                 mask_token_probability=0.8, random_probability=0.1, word_starts: torch.Tensor | None = None):
        self.mask_id, self.vocab = mask_id, vocab
        self.special = torch.tensor(special, dtype=torch.long)
        self.p, self.p_mask, self.p_random = mask_probability, mask_token_probability, random_probability
        self.word_starts = word_starts

    def _selection_noise(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Uniform noise per position; with whole-word masking every sub-token copies its word's first value."""
        noise = torch.rand(input_ids.shape, device=input_ids.device)
        if self.word_starts is None:
            return noise
        starts = self.word_starts.to(input_ids.device)[input_ids]
        starts[:, 0] = True
        positions = torch.arange(input_ids.size(1), device=input_ids.device).expand_as(input_ids)
        first_of_word = torch.where(starts, positions, torch.zeros_like(positions)).cummax(dim=1).values
        return noise.gather(1, first_of_word)

    def prepare(self, batch: dict) -> dict:
        input_ids = batch["input_ids"]
        candidates = ~torch.isin(input_ids, self.special.to(input_ids.device))
        if batch.get("attention_mask") is not None:
            candidates &= batch["attention_mask"].bool()
        selected = (self._selection_noise(input_ids) < self.p) & candidates
        labels = input_ids.masked_fill(~selected, IGNORE_INDEX)
        action = torch.rand(input_ids.shape, device=input_ids.device)
        to_mask = selected & (action < self.p_mask)
        to_random = selected & (action >= self.p_mask) & (action < self.p_mask + self.p_random)
        random_tokens = torch.randint(self.vocab, input_ids.shape, device=input_ids.device)
        corrupted = input_ids.masked_fill(to_mask, self.mask_id)
        corrupted = torch.where(to_random, random_tokens, corrupted)
        return {**batch, "input_ids": corrupted, "labels": labels}

    def forward(self, model, batch: dict):
        """The head only at the chosen positions (about 15%): logits [N, V] for the N targets in row-major
        order. The LM head is over a third of a small model's compute, so this is the biggest MLM saving.
        A backbone whose forward takes `output_mask` also runs its last layer there only; last_hidden_state
        is then [N, hidden] too."""
        backbone, head = getattr(model, "backbone", None), getattr(model, "head", None)
        if is_compiled(model) or backbone is None or head is None or getattr(backbone, "kind", None) != "encoder":
            return model(**self.inputs(batch))
        from framework.model import ModelOutput

        chosen = batch["labels"] != IGNORE_INDEX
        if takes_output_mask(backbone):  # the last layer runs at the chosen positions only: [N, hidden]
            out = backbone(**self.inputs(batch), output_mask=chosen)
            targets = out.last_hidden_state
        else:
            out = backbone(**self.inputs(batch))
            targets = out.last_hidden_state[chosen]
        if fusable_lm_head(model) is not None:  # training: projection fused with the loss, no logits
            loss = head.loss(targets, batch["labels"][chosen])
            return LossOutput(None, out.last_hidden_state, out.hidden_states, loss=loss)
        return ModelOutput(head(targets), out.last_hidden_state, out.hidden_states)

    def loss(self, output, batch):
        if getattr(output, "loss", None) is not None:
            return output.loss
        labels = batch["labels"]
        if output.logits.dim() == 2:  # logits of the target positions only (from `forward`)
            labels = labels[labels != IGNORE_INDEX]
        return cross_entropy(output.logits, labels)


def build(cfg, tokenizer) -> MaskedLM:
    """Masked LM objective (BERT).

    Args:
        cfg.mask_probability: share of (non-special, non-padding) tokens chosen for prediction.
        cfg.mask_token_probability: share of chosen tokens replaced by the mask token (BERT: 0.8).
        cfg.random_probability: share of chosen tokens replaced by a random token (BERT: 0.1); the rest stay.
        cfg.whole_word_masking: choose whole words (every sub-token of a chosen word is predicted).
        tokenizer: must have a mask token.
    """
    size = vocab_size(tokenizer)
    starts = word_start_table(tokenizer, size) if cfg.whole_word_masking else None
    return MaskedLM(special_id(tokenizer, "mask", "masked_lm"), size, special_ids(tokenizer),
                    float(cfg.mask_probability), float(cfg.mask_token_probability),
                    float(cfg.random_probability), starts)
