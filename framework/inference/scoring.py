"""Log-likelihoods, per-token log-probabilities and perplexity from LM checkpoints (pseudo-log-likelihoods
from masked LMs), and n-best rescoring.

N-best JSONL (one utterance a line; `source` for encoder-decoder LMs, which score the hypothesis as a
target given it, and ignored by decoders):

    {"id": "utt1", "source": "for encoder-decoders", "hypotheses": [{"text": "...", "score": -12.3}, ...]}

Rescoring adds to each hypothesis `lm_score` (its log-likelihood, end-of-sequence token included by default), `words` and
`total = score + lm_weight * lm_score + length_bonus * words`, and sorts the hypotheses by `total`
(stable, so ties keep the input order).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import torch

from framework.errors import NlpfError


@dataclass
class SequenceScore:
    """The score of one text under the LM."""

    log_likelihood: float  # natural log, summed over the scored tokens
    num_tokens: int
    token_ids: list[int]
    token_logprobs: list[float]

    @property
    def perplexity(self) -> Optional[float]:
        """None for an empty text (JSON has no NaN)."""
        return math.exp(-self.log_likelihood / self.num_tokens) if self.num_tokens else None

    def as_dict(self, tokens: Optional[list[str]] = None) -> dict:
        out = {"log_likelihood": self.log_likelihood, "num_tokens": self.num_tokens, "perplexity": self.perplexity}
        if tokens is not None:
            out["tokens"] = tokens
            out["token_logprobs"] = self.token_logprobs
        return out


def pad_right(rows: Sequence[Sequence[int]], value: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id rows with `value`; returns (ids, attention_mask) on `device`."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), value, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids.to(device), mask.to(device)


def _gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) at each position, computed in float32."""
    return logits.float().log_softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)


@torch.inference_mode()
def score_decoder(model, token_rows: Sequence[Sequence[int]], contexts: Sequence[int], pad_id: int,
                  device="cpu") -> list[SequenceScore]:
    """Score token sequences with a decoder LM; the first `contexts[i]` tokens of row i only condition the
    rest (at least 1: the first token has nothing to condition on; a BOS or EOS in front makes it a token
    that needs no score)."""
    if all(len(r) <= c for r, c in zip(token_rows, contexts)):  # nothing to score (empty texts)
        return [SequenceScore(0.0, 0, [], []) for _ in token_rows]
    ids, mask = pad_right([r or [pad_id] for r in token_rows], pad_id, device)
    logits = model(input_ids=ids, attention_mask=mask).logits
    logp = _gather_logprobs(logits[:, :-1], ids[:, 1:])
    results = []
    for i, (row, context) in enumerate(zip(token_rows, contexts)):
        values = logp[i, context - 1:len(row) - 1].tolist() if len(row) > context else []
        results.append(SequenceScore(float(sum(values)), len(values), list(row[context:]), values))
    return results


@torch.inference_mode()
def score_masked(model, token_rows: Sequence[Sequence[int]], mask_id: int, skip: set[int], pad_id: int,
                 device="cpu", batch_size: int = 16) -> list[SequenceScore]:
    """Pseudo-log-likelihood of each row under a masked LM (Salazar et al., 2020, "Masked Language Model
    Scoring"): each token not in `skip` (the special tokens but [UNK]) is replaced by `mask_id` in its own copy of the row
    and scored given all the others; the score is the sum. A row of n scorable tokens costs n rows of forward
    passes, `batch_size` at a time; the head runs at the masked position only."""
    from framework.model import logits_at

    pieces = [(i, j) for i, row in enumerate(token_rows) for j, t in enumerate(row) if t not in skip]
    values: list[list[float]] = [[] for _ in token_rows]
    for k in range(0, len(pieces), batch_size):
        chunk = pieces[k:k + batch_size]
        rows = [list(token_rows[i]) for i, _ in chunk]
        for r, (_, j) in zip(rows, chunk):
            r[j] = mask_id
        ids, mask = pad_right(rows, pad_id, device)
        at = torch.zeros_like(ids, dtype=torch.bool)
        at[torch.arange(len(chunk)), torch.tensor([j for _, j in chunk])] = True
        logits = logits_at(model, ids, mask, at)  # [n, V]: one masked position a row
        targets = torch.tensor([token_rows[i][j] for i, j in chunk], device=logits.device)
        picked = logits.float().log_softmax(-1).gather(-1, targets[:, None]).squeeze(-1)
        for (i, _), v in zip(chunk, picked.tolist()):
            values[i].append(v)
    return [SequenceScore(float(sum(v)), len(v), [t for t in row if t not in skip], v)
            for row, v in zip(token_rows, values)]


def windows(row: Sequence[int], width: int) -> list[tuple[list[int], int]]:
    """Split a token row into windows of at most `width` tokens for a decoder with that context, as
    (window, context): the first `context` tokens of a window only condition the rest. A row that fits is one
    window. A longer one slides by width // 2, the last window ending at the end of the row: every token after
    the first is scored exactly once, with at least width - width // 2 tokens before it. (The `transformers`
    perplexity guide's loop does not align its last window to the end, so its numbers differ slightly.)"""
    if width < 2:
        raise ValueError(f"a scoring window needs room for a token and its context, got width {width}")
    if len(row) <= width:
        return [(list(row), 1)]
    stride = width // 2
    out = [(list(row[:width]), 1)]
    end = width
    while end < len(row):
        new_end = min(end + stride, len(row))
        start = new_end - width
        out.append((list(row[start:new_end]), end - start))
        end = new_end
    return out


def joined(parts: Sequence[SequenceScore]) -> SequenceScore:
    """One text's score from the scores of its windows, in order."""
    values = [v for p in parts for v in p.token_logprobs]
    return SequenceScore(float(sum(values)), len(values), [t for p in parts for t in p.token_ids], values)


@torch.inference_mode()
def score_seq2seq(model, sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], pad_id: int,
                  decoder_start_id: int, device="cpu") -> list[SequenceScore]:
    """Score each target (ending with EOS when the tokenizer adds it) given its source."""
    src, src_mask = pad_right(sources, pad_id, device)
    dec_in, dec_mask = pad_right([[decoder_start_id, *t[:-1]] for t in targets], pad_id, device)
    labels, _ = pad_right(targets, pad_id, device)
    logits = model(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec_in,
                   decoder_attention_mask=dec_mask).logits
    logp = _gather_logprobs(logits, labels)
    results = []
    for i, t in enumerate(targets):
        values = logp[i, :len(t)].tolist()
        results.append(SequenceScore(float(sum(values)), len(values), list(t), values))
    return results


# ---------------------------------------------------------------- n-best lists


def read_nbest(lines: Iterable[str], where: str = "input") -> Iterator[dict]:
    """Parse and check n-best JSONL lines (see the module docstring for the format)."""
    import json

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise NlpfError(f"{where}, line {number}: not valid JSON ({err.msg})",
                            hint='each line is {"id": ..., "hypotheses": [{"text": ..., "score": ...}, ...]}') from None
        hyps = item.get("hypotheses") if isinstance(item, dict) else None
        if not isinstance(hyps, list):
            keys = ", ".join(item) if isinstance(item, dict) else type(item).__name__
            raise NlpfError(f"{where}, line {number}: no 'hypotheses' list (found: {keys})",
                            hint='each line is {"id": ..., "hypotheses": [{"text": ..., "score": ...}, ...]}')
        source = item.get("source")
        if source is not None and not isinstance(source, str):
            raise NlpfError(f"{where}, line {number}: 'source' is {json.dumps(source)}, not a string",
                            hint='write the source as a string: "source": "..."')
        for k, h in enumerate(hyps):
            if not isinstance(h, dict) or "text" not in h:
                raise NlpfError(f"{where}, line {number}: hypothesis {k} has no 'text'",
                                hint='a hypothesis is {"text": "...", "score": first_pass_score}')
            if not isinstance(h["text"], str):
                raise NlpfError(f"{where}, line {number}: hypothesis {k} has a 'text' that is {json.dumps(h['text'])}, "
                                "not a string", hint='quote the hypothesis: {"text": "...", "score": first_pass_score}')
            score = h.get("score", 0.0)
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise NlpfError(f"{where}, line {number}: hypothesis {k} has a non-numeric score {json.dumps(score)}",
                                hint="score is the first-pass log score (a number); leave it out to use 0")
            if not _finite(score):  # JSON has no NaN or infinity to write back, and NaN would sort first
                raise NlpfError(f"{where}, line {number}: hypothesis {k} has a non-finite score {json.dumps(score)}",
                                hint="score is a finite first-pass log score; leave out a hypothesis the first pass "
                                     "ruled out, or give it a very low score such as -1e9")
        yield item


def _finite(x: float) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an integer too large for a float
        return False


def rerank(item: dict, lm_scores: Sequence[float], lm_weight: float, length_bonus: float) -> dict:
    """Attach LM scores to one utterance's hypotheses and sort them by the combined score."""
    ranked = []
    for h, lm in zip(item["hypotheses"], lm_scores):
        words = len(h["text"].split())
        total = float(h.get("score", 0.0)) + lm_weight * lm + length_bonus * words
        ranked.append({**h, "lm_score": lm, "words": words, "total": total})
    ranked.sort(key=lambda h: -h["total"])  # stable: ties keep the input order
    out = {**item, "hypotheses": ranked}
    out["best"] = ranked[0]["text"] if ranked else None
    return out
