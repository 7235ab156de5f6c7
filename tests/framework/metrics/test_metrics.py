import math

import pytest
import torch

from framework.metrics import EntityF1, SpanMatch, TaskMetrics, best_spans, bleu, chrf

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
ID = {t: i for i, t in enumerate(TAGS)}


def entity_f1(gold, pred):
    m = EntityF1(TAGS)
    for g, p in zip(gold, pred):
        m.update(torch.tensor([[ID[t] for t in p]]), torch.tensor([[ID[t] for t in g]]))
    return {k: float(v) for k, v in m.compute().items()}


def test_entity_f1_exact_spans_and_types():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert entity_f1(gold, gold)["entity_f1"] == 1.0
    # wrong end -> the PER entity is wrong; LOC right: P = R = 1/2
    r = entity_f1(gold, [["B-PER", "O", "O", "B-LOC"]])
    assert r["entity_precision"] == 0.5 and r["entity_recall"] == 0.5
    # wrong type -> nothing right
    assert entity_f1(gold, [["B-LOC", "I-LOC", "O", "B-PER"]])["entity_f1"] == 0.0


def test_entity_f1_seqeval_semantics_for_stray_i_tags():
    # seqeval (default mode): I-X after O starts an entity; I-Y after I-X starts a new one
    gold = [["O", "B-LOC", "I-LOC", "O"]]
    assert entity_f1(gold, [["O", "I-LOC", "I-LOC", "O"]])["entity_f1"] == 1.0
    r = entity_f1([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-PER", "I-LOC"]])
    assert r["entity_precision"] == 0.0 and r["entity_recall"] == 0.0
    # B-X B-X is two entities, matching seqeval: gold 1 entity, predicted 2, none right
    r = entity_f1([["B-PER", "I-PER"]], [["B-PER", "B-PER"]])
    assert (r["entity_precision"], r["entity_recall"]) == (0.0, 0.0)


def test_entity_f1_skips_subtoken_positions_and_accumulates():
    m = EntityF1(TAGS)
    # -100 marks sub-tokens: the word sequence is B-PER I-PER, so the prediction at -100 positions is ignored
    gold = torch.tensor([[1, -100, 2, 0], [3, 0, 0, -100]])
    pred = torch.tensor([[1, 3, 2, 0], [3, 0, 1, 4]])
    m.update(pred, gold)
    out = m.compute()
    # entities: gold PER(0-1), LOC ; pred PER(0-1), LOC, PER(row 2 word 2) -> P 2/3, R 1
    assert math.isclose(float(out["entity_precision"]), 2 / 3, rel_tol=1e-6)
    assert float(out["entity_recall"]) == 1.0
    assert math.isclose(float(out["entity_f1"]), 0.8, rel_tol=1e-6)


def test_span_match_and_decoding():
    logits = torch.full((2, 8, 2), -5.0)
    logits[0, 2, 0], logits[0, 4, 1] = 5, 5
    logits[1, 6, 0], logits[1, 1, 1] = 5, 4  # end before start is not allowed
    start, end = best_spans(logits, max_answer_length=30)
    assert start[0].item() == 2 and end[0].item() == 4
    assert end[1].item() >= start[1].item()
    m = SpanMatch()
    m.update(torch.tensor([2, 0]), torch.tensor([4, 1]), torch.tensor([2, 1]), torch.tensor([4, 3]))
    out = m.compute()
    assert float(out["exact_match"]) == 0.5
    # second: overlap 1 token, precision 1/2, recall 1/3 -> F1 0.4
    assert math.isclose(float(out["f1"]), (1 + 0.4) / 2, rel_tol=1e-6)


def test_task_metrics_classification_and_perplexity():
    m = TaskMetrics("classification", ["ham", "spam"])
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
    m.update(logits, {"labels": torch.tensor([0, 1, 1, 1])}, torch.tensor(0.5), torch.tensor(4))
    out = m.compute()
    assert out["accuracy"] == 0.75
    assert math.isclose(out["f1_spam"], 0.8, rel_tol=1e-6)  # P 1, R 2/3
    assert math.isclose(out["macro_f1"], (2 / 3 + 0.8) / 2, rel_tol=1e-6)
    lm = TaskMetrics("lm")
    lm.update(None, {}, torch.tensor(1.0), torch.tensor(10))
    lm.update(None, {}, torch.tensor(3.0), torch.tensor(30))
    assert math.isclose(lm.compute()["perplexity"], math.exp(2.5), rel_tol=1e-5)


def test_bleu_and_chrf():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert bleu(["a dog"], ["the cat sat on the mat"]) == 0.0
    assert 0 < chrf(["the cat sat on a mat"], ["the cat sat on the mat"]) < 100
    assert bleu([], []) == chrf([], []) == 0.0
    with pytest.raises(ValueError, match="one reference each"):
        bleu(["a"], ["a", "b"])


# Reference values: the outputs of sacrebleu 2.6.0's defaults, BLEU().corpus_score(hyps, [refs]).score
# (nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp) and CHRF().corpus_score(hyps, [refs]).score
# (nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no); the small ones are also worked out by hand beside them.
SACREBLEU_README = (["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."],
                    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."])
FRENCH = (["L'homme a dit : « Que la lumière soit ! »", "Et Dieu vit que la lumière était bonne."],
          ["Et Dieu dit: Que la lumière soit!",
           "Dieu vit que la lumière était bonne; et Dieu sépara la lumière d'avec les ténèbres."])


@pytest.mark.parametrize("hyps, refs, expected", [
    # case counts: 1-4-gram precisions 4/5, 3/4, 2/3, 1/2 -> (1/5) ** (1/4)
    (["A b c d e"], ["a b c d e"], 66.87403049764218),
    # brevity penalty exp(1 - 6/5), every precision 1
    (["a b c d e"], ["a b c d e f"], 81.87307530779823),
    # no 4-gram matches: sacrebleu's 'exp' smoothing counts 1/(2 * 3), so (5/6 * 3/5 * 1/4 * 1/6) ** (1/4)
    (["a b c x d e"], ["a b c y d e"], 37.99178428257963),
    # 13a tokenisation: "wasn't" and "l'homme" stay one token, the final period is split off
    (*SACREBLEU_README, 45.06750632106114),
    (*FRENCH, 41.47203258183024),
    (["the cat sat on a mat"], ["the cat sat on the mat"], 53.7284965911771),
])
def test_bleu_is_sacrebleu_default(hyps, refs, expected):
    assert bleu(hyps, refs) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("hyps, refs, expected", [
    # by hand: 1-grams P 2/2 R 2/3, 2-grams P 1/1 R 1/2, no 3-gram in "ab" (order left out);
    # mean P 1, mean R 7/12, F2 = 5 * 7/12 / (4 + 7/12) = 7/11. chrF++ (word 1-2-grams too) gives 42.42
    (["ab"], ["abc"], 63.636363636363626),
    (["A b c d e"], ["a b c d e"], 54.333333333333336),  # chrF++: 60.95
    (["a b c x d e"], ["a b c y d e"], 28.055555555555557),  # chrF++: 38.96
    (*SACREBLEU_README, 50.043063606582294),  # chrF++: 51.73
    (*FRENCH, 51.75422821776332),  # chrF++: 52.45
    (["the cat sat on a mat"], ["the cat sat on the mat"], 65.97965990995549),  # chrF++: 67.44
])
def test_chrf_is_sacrebleu_default_chrf_not_chrf_plus_plus(hyps, refs, expected):
    assert chrf(hyps, refs) == pytest.approx(expected, abs=1e-9)


def test_text_metrics_ignore_whitespace_only_in_chrf():
    assert chrf(["a b  c"], ["abc"]) == pytest.approx(100.0)  # chrF removes whitespace
    assert bleu(["a b c d"], ["abcd"]) == 0.0


def test_multilabel_metrics_against_a_hand_count():
    """Threshold 0.5 on the sigmoid (a logit of 0 is not a label). Labels a, b, c; predictions per label:
    a: 2 right, b: 2 right, c: 1 false positive and 1 missed -> micro F1 = 2*4 / (2*4 + 1 + 1) = 0.8, macro F1 =
    (1 + 1 + 0) / 3, subset accuracy (whole label set right) = 2 of 4 examples."""
    m = TaskMetrics("multilabel", ["a", "b", "c"])
    m.update(torch.tensor([[3.0, -2.0, -1.0], [-3.0, 2.0, 1.0]]), {"labels": torch.tensor([[1.0, 0, 1], [0, 1, 0]])},
             torch.tensor(0.6), torch.tensor(6))
    # every logit within [0, 1]: still logits (sigmoid 0.55 is a label), not probabilities below the threshold
    m.update(torch.tensor([[0.2, 0.9, 0.0], [0.0, 0.0, 0.0]]), {"labels": torch.tensor([[1.0, 1, 0], [0, 0, 0]])},
             torch.tensor(0.3), torch.tensor(6))
    out = m.compute()
    assert set(out) == {"loss", "micro_f1", "macro_f1", "subset_accuracy"}
    assert math.isclose(out["micro_f1"], 0.8, rel_tol=1e-6)
    assert math.isclose(out["macro_f1"], 2 / 3, rel_tol=1e-6)
    assert out["subset_accuracy"] == 0.5
    assert math.isclose(out["loss"], 0.45, rel_tol=1e-6)


def test_multilabel_metrics_with_one_label():
    """One label name (each text has it or not, e.g. [] / ["toxic"]): torchmetrics' multilabel metrics refuse
    fewer than two labels, which stopped such a run with a ValueError before its first step. Examples: 2 right
    positives, 1 false positive, 1 missed, 1 right negative -> F1 = 2*2 / (2*2 + 1 + 1), subset accuracy 3/5."""
    m = TaskMetrics("multilabel", ["toxic"])
    m.update(torch.tensor([[2.0], [1.0], [0.5], [-1.0], [-3.0]]), {"labels": torch.tensor([[1.0], [1], [0], [1], [0]])},
             torch.tensor(0.4), torch.tensor(5))
    out = m.compute()
    assert set(out) == {"loss", "micro_f1", "macro_f1", "subset_accuracy"}
    assert math.isclose(out["micro_f1"], 2 / 3, rel_tol=1e-6) and out["macro_f1"] == out["micro_f1"]
    assert math.isclose(out["subset_accuracy"], 0.6, rel_tol=1e-6)
