"""Metrics on generated text (translation): corpus BLEU and chrF from torchmetrics."""
from __future__ import annotations


def bleu(predictions: list[str], references: list[str]) -> float:
    """Corpus BLEU-4 (0..100) with one reference per sentence, whitespace tokens with punctuation split."""
    from torchmetrics.functional.text import bleu_score

    return float(bleu_score([_tok(p) for p in predictions], [[_tok(r)] for r in references])) * 100


def chrf(predictions: list[str], references: list[str]) -> float:
    """Corpus chrF (0..100)."""
    from torchmetrics.functional.text import chrf_score

    return float(chrf_score(predictions, [[r] for r in references])) * 100


def _tok(text: str) -> str:
    import re

    return " ".join(re.findall(r"\w+|[^\w\s]", text.lower()))
