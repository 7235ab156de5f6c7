"""Metrics on generated text (translation): corpus BLEU and chrF as sacrebleu 2.x computes them by default.

Written out here (plain Python, no extra dependency) so that the numbers are the ones papers report:
`bleu` is sacrebleu's `BLEU()` (case-sensitive, 13a tokenisation, 4-grams, brevity penalty, 'exp' smoothing)
and `chrf` its `CHRF()` (character 1-6-grams without whitespace, beta 2, no word n-grams: chrF, not chrF++).
torchmetrics differs from both: its `chrf_score` defaults to chrF++ (`n_word_order=2`) and averages the
per-order F-scores instead of the precisions and recalls; its `sacre_bleu_score` has no 'exp' smoothing, so a
corpus without a matching 4-gram scores 0. One reference per sentence.
"""
from __future__ import annotations

import math
import re
from collections import Counter

# mteval-v13a's tokenisation (sacrebleu's `Tokenizer13a` and `TokenizerRegexp`)
_13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # punctuation and symbols (ASCII)
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period and comma unless preceded by a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # ... unless followed by a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash preceded by a digit
]


def tokenize_13a(line: str) -> list[str]:
    """Split a detokenised line into tokens the way sacrebleu's default ('13a') tokeniser does."""
    line = line.rstrip().replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, repl in _13A:
        line = pattern.sub(repl, line)
    return line.split()


def _ngrams(tokens, order: int) -> Counter:
    return Counter(tuple(tokens[i:i + order]) for i in range(len(tokens) - order + 1))


def bleu(predictions: list[str], references: list[str], max_order: int = 4) -> float:
    """Corpus BLEU (0..100) with one reference per sentence, as sacrebleu's default `BLEU().corpus_score`:
    n-gram counts clipped by the reference and summed over the corpus, geometric mean of the 1..4-gram
    precisions, brevity penalty on the corpus lengths; an order without any match counts as 1/(2^k * total)
    for the k-th such order ('exp' smoothing); no match at all scores 0."""
    _check_lengths(predictions, references)
    correct, total = [0] * max_order, [0] * max_order
    sys_len = ref_len = 0
    for prediction, reference in zip(predictions, references):
        hyp, ref = tokenize_13a(prediction), tokenize_13a(reference)
        sys_len, ref_len = sys_len + len(hyp), ref_len + len(ref)
        for n in range(1, max_order + 1):
            hyp_ngrams, ref_ngrams = _ngrams(hyp, n), _ngrams(ref, n)
            total[n - 1] += sum(hyp_ngrams.values())
            correct[n - 1] += sum(min(c, ref_ngrams[g]) for g, c in hyp_ngrams.items() if g in ref_ngrams)
    if not any(correct):
        return 0.0
    brevity = 1.0 if sys_len >= ref_len else math.exp(1 - ref_len / sys_len)
    log_precisions, smooth = [], 1.0
    for n in range(max_order):
        if total[n] == 0:  # no n-gram of this order in the output at all: sacrebleu scores 0
            return 0.0
        if correct[n] == 0:
            smooth *= 2
            log_precisions.append(math.log(1 / (smooth * total[n])))
        else:
            log_precisions.append(math.log(correct[n] / total[n]))
    return 100 * brevity * math.exp(sum(log_precisions) / max_order)


def chrf(predictions: list[str], references: list[str], char_order: int = 6, beta: float = 2.0) -> float:
    """Corpus chrF (0..100) with one reference per sentence, as sacrebleu's default `CHRF().corpus_score`:
    character n-grams of orders 1..6 with the whitespace removed, counts summed over the corpus, precision and
    recall averaged over the orders that occur in both, then their F-beta (beta 2: recall weighs more).
    Standard chrF: no word n-grams (chrF++ adds word 1-2-grams and gives other numbers)."""
    _check_lengths(predictions, references)
    hyp_count, ref_count, match = [0] * char_order, [0] * char_order, [0] * char_order
    for prediction, reference in zip(predictions, references):
        hyp, ref = "".join(prediction.split()), "".join(reference.split())
        for n in range(1, char_order + 1):
            hyp_ngrams = Counter(hyp[i:i + n] for i in range(len(hyp) - n + 1))
            ref_ngrams = Counter(ref[i:i + n] for i in range(len(ref) - n + 1))
            if ref_ngrams:  # sacrebleu counts an output's n-grams only where the reference has some
                hyp_count[n - 1] += sum(hyp_ngrams.values())
            ref_count[n - 1] += sum(ref_ngrams.values())
            match[n - 1] += sum(min(c, ref_ngrams[g]) for g, c in hyp_ngrams.items() if g in ref_ngrams)
    precision = recall = 0.0
    orders = 0
    for n in range(char_order):
        if hyp_count[n] > 0 and ref_count[n] > 0:
            precision += match[n] / hyp_count[n]
            recall += match[n] / ref_count[n]
            orders += 1
    if orders == 0:
        return 0.0
    precision, recall = precision / orders, recall / orders
    if precision + recall == 0:
        return 0.0
    factor = beta ** 2
    return 100 * (1 + factor) * precision * recall / (factor * precision + recall)


def _check_lengths(predictions, references) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references: one reference each")
