"""Log-likelihoods, perplexity and n-best rescoring."""
from __future__ import annotations

import json
import math

import pytest
import torch

from framework.errors import NlpfError
from framework.inference.scoring import read_nbest, rerank
from tests.framework.inference.conftest import GPT, make

SENTENCE = "the cat sat on the mat. "


def test_scores_match_a_manual_computation(gpt):
    text = "hello world"
    s = gpt.score(text, tokens=True)
    ids = [gpt.tokenizer.bos_id] + gpt.tokenizer.encode(text, add_special_tokens=False)
    with torch.no_grad():
        logp = gpt.model(torch.tensor([ids])).logits[0].log_softmax(-1)
    manual = [float(logp[i, ids[i + 1]]) for i in range(len(ids) - 1)]
    assert s["num_tokens"] == len(ids) - 1 == len(s["tokens"])
    assert s["token_logprobs"] == pytest.approx(manual, abs=1e-4)
    assert s["log_likelihood"] == pytest.approx(sum(manual), abs=1e-3)
    assert s["perplexity"] == pytest.approx(math.exp(-sum(manual) / len(manual)), rel=1e-4)


def test_batched_scores_equal_single_scores(gpt):
    texts = ["a", "a somewhat longer sentence", "mid length"]
    batched = gpt.score(texts, batch_size=3)
    for text, b in zip(texts, batched):
        assert gpt.score(text)["log_likelihood"] == pytest.approx(b["log_likelihood"], abs=1e-3)


def test_seq2seq_scores_target_given_source(t5):
    with pytest.raises(NlpfError, match="source"):
        t5.score(["ein Haus"])
    a = t5.score(["a house"], sources=["ein Haus"])[0]
    b = t5.score(["a house"], sources=["something else entirely"])[0]
    assert a["num_tokens"] == len(t5.tokenizer.encode("a house"))  # target tokens plus </s>
    assert a["log_likelihood"] != pytest.approx(b["log_likelihood"])


def test_texts_and_sources_of_different_lengths_are_a_clear_error(t5):
    with pytest.raises(NlpfError, match="2 texts but 1 source") as err:
        t5.score(["a house", "a home"], sources=["ein Haus"])
    assert "one source a text" in err.value.hint
    with pytest.raises(NlpfError, match="1 text but 2 sources"):
        t5.score("a house", sources=["ein Haus", "ein Heim"])
    # one string is one source, not a list of characters
    assert t5.score("a house", sources="ein Haus") == t5.score(["a house"], sources=["ein Haus"])[0]


NBEST = [
    {"id": "u1", "hypotheses": [{"text": "b second", "score": -2.0}, {"text": "a first", "score": -1.0},
                                {"text": "c third", "score": -3.0}, {"text": "d tie", "score": -2.0}]},
    {"id": "u2", "hypotheses": [{"text": "only one", "score": -5.0}]},
]


def test_lambda_zero_keeps_the_first_pass_order(gpt):
    out = gpt.rescore(NBEST, lm_weight=0.0)
    assert [h["text"] for h in out[0]["hypotheses"]] == ["a first", "b second", "d tie", "c third"]
    assert out[0]["best"] == "a first" and out[1]["best"] == "only one"
    for h in out[0]["hypotheses"]:
        assert h["total"] == pytest.approx(h["score"])
        assert isinstance(h["lm_score"], float) and h["lm_score"] < 0


def test_length_bonus_and_total():
    item = {"id": 1, "hypotheses": [{"text": "one two three", "score": -1.0}, {"text": "one", "score": -0.5}]}
    out = rerank(item, [-4.0, -1.0], lm_weight=0.5, length_bonus=1.0)
    totals = {h["text"]: h["total"] for h in out["hypotheses"]}
    assert totals == {"one two three": pytest.approx(-1.0 - 2.0 + 3.0), "one": pytest.approx(-0.5 - 0.5 + 1.0)}
    assert out["best"] == "one two three"


@pytest.fixture(scope="module")
def fluent_lm():
    """A tiny GPT trained for a few hundred steps on one repeated sentence."""
    torch.manual_seed(0)
    pipe = make(GPT, wide=False)
    ids = torch.tensor(pipe.tokenizer.encode(SENTENCE * 8, add_special_tokens=False))
    model = pipe.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        starts = torch.randint(0, len(ids) - 33, (8,))
        batch = torch.stack([ids[s:s + 33] for s in starts])
        logits = model(batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert loss.item() < 0.5
    return pipe


def test_a_strong_lm_prefers_the_fluent_hypothesis(fluent_lm, tmp_path):
    nbest = [{"id": "utt", "hypotheses": [{"text": "mat the on sat cat the", "score": -10.0},
                                          {"text": "the cat sat on the mat", "score": -10.5}]}]
    assert fluent_lm.rescore(nbest, lm_weight=0.0)[0]["best"] == "mat the on sat cat the"
    out = fluent_lm.rescore(nbest, lm_weight=1.0)[0]
    assert out["best"] == "the cat sat on the mat"
    fluent, scrambled = out["hypotheses"]
    assert fluent["lm_score"] > scrambled["lm_score"] + 5
    # the LM's perplexity on its own sentence is low
    assert fluent_lm.score("the cat sat on the mat.")["perplexity"] < 3.0


def test_nbest_format_errors_name_the_line():
    good = json.dumps(NBEST[0])
    assert list(read_nbest([good, ""]))[0]["id"] == "u1"
    with pytest.raises(NlpfError, match="line 2.*hypotheses"):
        list(read_nbest([good, json.dumps({"id": 2, "hyps": []})]))
    with pytest.raises(NlpfError, match="line 1.*text"):
        list(read_nbest([json.dumps({"hypotheses": [{"txt": "a"}]})]))
    with pytest.raises(NlpfError, match="not valid JSON"):
        list(read_nbest(["{oops"]))


@pytest.mark.parametrize("line, says", [
    ('{"hypotheses": [{"text": "a"}, {"text": 5}]}', "hypothesis 1 has a 'text' that is 5, not a string"),
    ('{"hypotheses": [{"text": null}]}', "'text' that is null"),
    ('{"hypotheses": [{"text": ["a"]}]}', "'text' that is [\"a\"]"),
    ('{"hypotheses": [{"text": "a", "score": NaN}]}', "non-finite score NaN"),
    ('{"hypotheses": [{"text": "a", "score": -Infinity}]}', "non-finite score -Infinity"),
    ('{"hypotheses": [{"text": "a", "score": 1' + "0" * 400 + '}]}', "non-finite score 1000"),
    ('{"hypotheses": [{"text": "a", "score": true}]}', "non-numeric score true"),
    ('{"hypotheses": [{"text": "a", "score": "-1.5"}]}', 'non-numeric score "-1.5"'),
    ('{"source": 3, "hypotheses": [{"text": "a"}]}', "'source' is 3, not a string"),
])
def test_nbest_fields_of_the_wrong_type_are_refused_naming_the_line(line, says):
    good = json.dumps(NBEST[0])
    with pytest.raises(NlpfError, match="line 2: ") as err:
        list(read_nbest([good, line]))
    assert says in err.value.message and err.value.hint


def test_rescore_refuses_a_nan_score_from_python(gpt):
    with pytest.raises(NlpfError, match="n-best item 1, line 1: hypothesis 0 has a non-finite score NaN"):
        gpt.rescore([{"id": 1, "hypotheses": [{"text": "a", "score": float("nan")}]}])


def test_empty_texts_score_zero_tokens(gpt):
    empty, one = gpt.score(["", "a"])
    assert empty == {"log_likelihood": 0.0, "num_tokens": 0, "perplexity": None}
    assert one["num_tokens"] == 1 and one["log_likelihood"] < 0


def test_seq2seq_rescoring_scores_hypotheses_given_the_source(t5):
    nbest = [{"id": "s", "source": "ein Haus", "hypotheses": [{"text": "a house", "score": 0.0},
                                                              {"text": "the home", "score": 0.0}]}]
    out = t5.rescore(nbest, lm_weight=1.0)[0]
    expected = t5.score(["a house", "the home"], sources=["ein Haus", "ein Haus"])
    by_text = {h["text"]: h["lm_score"] for h in out["hypotheses"]}
    assert by_text["a house"] == pytest.approx(expected[0]["log_likelihood"], abs=1e-4)
    assert by_text["the home"] == pytest.approx(expected[1]["log_likelihood"], abs=1e-4)
    assert out["best"] == max(by_text, key=by_text.get)


def test_eos_also_scores_the_end_of_sequence_token(gpt):
    text = "hello world"
    plain, ended = gpt.score(text, tokens=True), gpt.score(text, tokens=True, eos=True)
    tok = gpt.tokenizer
    ids = [tok.bos_id] + tok.encode(text, add_special_tokens=False) + [tok.eos_id]
    with torch.no_grad():
        logp = gpt.model(torch.tensor([ids])).logits[0].log_softmax(-1)
    last = float(logp[len(ids) - 2, tok.eos_id])
    assert ended["num_tokens"] == plain["num_tokens"] + 1
    assert ended["token_logprobs"][:-1] == pytest.approx(plain["token_logprobs"], abs=1e-4)
    assert ended["token_logprobs"][-1] == pytest.approx(last, abs=1e-4)
    assert ended["log_likelihood"] == pytest.approx(plain["log_likelihood"] + last, abs=1e-3)
    empty = gpt.score("", eos=True)  # an empty text still has a probability: that of ending at once
    assert empty["num_tokens"] == 1 and empty["log_likelihood"] < 0


def test_rescoring_counts_the_end_token_unless_told_not_to(gpt):
    nbest = [{"id": "u", "hypotheses": [{"text": "the cat sat", "score": 0.0}, {"text": "", "score": 0.0}]}]
    texts = ["the cat sat", ""]
    for eos, expected in ((None, gpt.score(texts, eos=True)), (False, gpt.score(texts))):
        lm = {h["text"]: h["lm_score"] for h in gpt.rescore(nbest, lm_weight=1.0, eos=eos)[0]["hypotheses"]}
        assert [lm[t] for t in texts] == pytest.approx([e["log_likelihood"] for e in expected], abs=1e-4)
    by_default = {h["text"]: h["lm_score"] for h in gpt.rescore(nbest)[0]["hypotheses"]}
    assert by_default[""] < 0  # without the end token an empty hypothesis would score 0 and win every list


def test_seq2seq_scores_its_end_token_unless_eos_false(t5):
    default = t5.score(["a house"], sources=["ein Haus"], tokens=True)[0]
    bare = t5.score(["a house"], sources=["ein Haus"], tokens=True, eos=False)[0]
    assert default["num_tokens"] == bare["num_tokens"] + 1
    assert default["log_likelihood"] == pytest.approx(bare["log_likelihood"] + default["token_logprobs"][-1], abs=1e-3)


def test_eos_without_an_end_token_is_a_clear_error(gpt, monkeypatch):
    monkeypatch.setattr(gpt.tokenizer, "eos_id", None)
    with pytest.raises(NlpfError, match="no end-of-sequence token") as err:
        gpt.score("a", eos=True)
    assert "eos=false" in err.value.hint
    assert gpt.score("a")["num_tokens"] == 1  # the default does not need one


@pytest.mark.parametrize("width", [2, 3, 8, 9])
@pytest.mark.parametrize("length", [0, 1, 2, 7, 8, 9, 25, 64])
def test_windows_score_every_token_once_with_context(width, length):
    from framework.inference.scoring import windows

    row = list(range(100, 100 + length))
    scored = []
    for k, (window, context) in enumerate(windows(row, width)):
        assert 1 <= context and len(window) <= width
        start = window[0] - 100 if window else 0
        assert window == row[start:start + len(window)]  # a contiguous piece of the row
        if k:
            assert context >= width - width // 2
        scored += window[context:]
    assert scored == row[1:]
    with pytest.raises(ValueError, match="width 1"):
        windows(row, 1)


def test_the_last_window_is_a_full_window_ending_at_the_end():
    """What docs/inference.md describes (and where nlpf differs from the transformers guide's loop)."""
    from framework.inference.scoring import windows

    row = list(range(25))
    parts = windows(row, 8)
    assert [(w[0], len(w), c) for w, c in parts] == [(0, 8, 1), (4, 8, 4), (8, 8, 4), (12, 8, 4), (16, 8, 4),
                                                  (17, 8, 7)]  # the last: full, ending at the end


def test_a_text_longer_than_max_length_is_scored_in_sliding_windows(gpt):
    from framework.inference.scoring import windows

    width = gpt.max_length
    text = "".join(chr(97 + (i * 7) % 26) for i in range(int(width * 2.3)))
    tok = gpt.tokenizer
    ids = [tok.bos_id] + tok.encode(text, add_special_tokens=False)
    s = gpt.score(text, tokens=True)
    assert s["num_tokens"] == len(ids) - 1  # nothing cut off
    manual = []
    with torch.no_grad():
        for window, context in windows(ids, width):
            logp = gpt.model(torch.tensor([window])).logits[0].log_softmax(-1)
            manual += [float(logp[j - 1, window[j]]) for j in range(context, len(window))]
    assert len(windows(ids, width)) >= 3
    assert s["token_logprobs"] == pytest.approx(manual, abs=1e-4)


MLM = ["model=bert_tiny", "head=bert_mlm", "objective=masked_lm", "tokenizer=byte"]


@pytest.fixture(scope="module")
def mlm():
    return make(MLM)


def test_a_masked_lm_scores_pseudo_log_likelihoods(mlm):
    assert mlm.kind == "encoder" and mlm.task == "mlm"
    text = "hello world"
    s = mlm.score(text, tokens=True)
    tok = mlm.tokenizer
    row = tok.encode(text)  # with [CLS] ... [SEP]
    manual = []
    with torch.no_grad():
        for j, t in enumerate(row):
            if t in tok.special_ids:
                continue
            masked = list(row)
            masked[j] = tok.mask_id
            logits = mlm.model(input_ids=torch.tensor([masked])).logits[0, j]  # the full-sequence path
            manual.append(float(logits.log_softmax(-1)[t]))
    assert s["num_tokens"] == len(text) == len(manual)
    assert s["token_logprobs"] == pytest.approx(manual, abs=1e-4)
    assert s["log_likelihood"] == pytest.approx(sum(manual), abs=1e-3)
    batched = mlm.score([text, "a", "longer text here"], batch_size=3)
    assert batched[0]["log_likelihood"] == pytest.approx(s["log_likelihood"], abs=1e-3)


def test_a_masked_lm_rescores_but_does_not_generate(mlm):
    out = mlm.rescore([{"id": 1, "hypotheses": [{"text": "a b", "score": 0.0}, {"text": "b a", "score": 0.0}]}])[0]
    expected = {t: mlm.score(t)["log_likelihood"] for t in ("a b", "b a")}
    assert {h["text"]: h["lm_score"] for h in out["hypotheses"]} == pytest.approx(expected, abs=1e-4)
    with pytest.raises(NlpfError, match="eos=true"):
        mlm.score("a", eos=True)
    with pytest.raises(NlpfError, match="this checkpoint is a masked language model") as err:
        mlm.generate("a", max_new_tokens=2)
    assert "score" in err.value.hint


def test_a_masked_lm_scores_an_unknown_word_like_any_other_token(tmp_path):
    """An out-of-vocabulary word is its [UNK] token, scored like the others: skipped as a special token, it added
    0 to the score, so a text of unknown words looked perfect and won every n-best list."""
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat"]) + "\n")
    mlm = make(["model=bert_tiny", "head=bert_mlm", "objective=masked_lm", "tokenizer=hf", f"tokenizer.path={vocab}"])
    tok = mlm.tokenizer
    row = tok.encode("the zebra")
    assert row == [tok.cls_id, tok.token_to_id("the"), tok.unk_id, tok.sep_id]
    masked = row[:2] + [tok.mask_id] + row[3:]
    with torch.no_grad():
        manual = float(mlm.model(input_ids=torch.tensor([masked])).logits[0, 2].log_softmax(-1)[tok.unk_id])
    s = mlm.score("the zebra", tokens=True)
    assert s["num_tokens"] == 2 and s["tokens"] == ["the", "[UNK]"]
    assert s["token_logprobs"][1] == pytest.approx(manual, abs=1e-4)
    alone = mlm.score("zebra")
    assert alone["num_tokens"] == 1 and alone["log_likelihood"] < 0


def test_masked_lm_scores_match_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    import framework
    from framework.hf import import_hf
    from framework.inference.scoring import score_masked

    pad, cls, sep, mask = 0, 2, 3, 4
    torch.manual_seed(0)
    hf = transformers.BertForMaskedLM(transformers.BertConfig(
        vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        pad_token_id=pad)).eval()
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "nlpf")
    ours = framework.load(tmp_path / "nlpf")
    rows = [[cls, 11, 50, 7, 23, sep], [cls, 60, sep]]
    scores = score_masked(ours.model, rows, mask, {pad, cls, sep, mask}, pad, batch_size=3)
    for row, s in zip(rows, scores):
        expected = []
        with torch.no_grad():
            for j in range(1, len(row) - 1):
                masked = torch.tensor([row[:j] + [mask] + row[j + 1:]])
                expected.append(float(hf(masked).logits[0, j].log_softmax(-1)[row[j]]))
        assert s.token_logprobs == pytest.approx(expected, abs=1e-4)
        assert s.token_ids == row[1:-1]


@pytest.fixture(scope="module")
def tokenizers_and_references(tmp_path_factory):
    """(nlpf tokenizer overrides, the `transformers` tokenizer of the same vocabulary) for a sentencepiece model
    small enough to spell words out, a byte-level BPE tokenizer.json and the byte tokenizer (ByT5's bytes)."""
    transformers = pytest.importorskip("transformers")
    import sentencepiece as spm
    from tokenizers import ByteLevelBPETokenizer

    root = tmp_path_factory.mktemp("tokens")
    lines = ["das Haus ist schön", "der Hund ist klein", "die Katze ist groß", "das ist gut"] * 50
    (root / "corpus.txt").write_text("\n".join(lines), encoding="utf-8")
    (root / "t5").mkdir()
    spm.SentencePieceTrainer.train(input=str(root / "corpus.txt"), model_prefix=str(root / "t5" / "spiece"),
                                   vocab_size=28, pad_id=0, unk_id=1, bos_id=2, eos_id=3, minloglevel=2)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(lines, vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"])
    bpe.save(str(root / "bpe.json"))
    return {
        "sentencepiece": (["tokenizer=sentencepiece_unigram", f"tokenizer.model_file={root / 't5' / 'spiece.model'}"],
                          transformers.T5Tokenizer.from_pretrained(str(root / "t5"), extra_ids=0)),
        "byte_level_bpe": (["tokenizer=hf", f"tokenizer.path={root / 'bpe.json'}"],
                           transformers.PreTrainedTokenizerFast(tokenizer_file=str(root / "bpe.json"),
                                                                eos_token="<|endoftext|>")),
        "byte": (["tokenizer=byte"], transformers.ByT5Tokenizer()),
    }


@pytest.mark.parametrize("kind", ["sentencepiece", "byte_level_bpe", "byte"])
def test_tokens_are_the_tokenizers_own_strings_as_transformers_gives_them(tokenizers_and_references, kind):
    """`tokens=true` lists each token as the tokenizer writes it, word-boundary marks included (sentencepiece's
    \u2581, byte-level BPE's \u0120, a character per byte), as `convert_ids_to_tokens` does; decoding each token
    alone dropped the marks, so "das Haus" came out as "d", "a", "s", "H", ..."""
    overrides, reference = tokenizers_and_references[kind]
    lm = make(GPT[:-1] + overrides)
    text = "das Haus schön"
    s = lm.score(text, tokens=True, eos=True)
    expected = reference.convert_ids_to_tokens(reference.encode(text, add_special_tokens=False)) + [reference.eos_token]
    assert s["tokens"] == expected and len(s["tokens"]) == s["num_tokens"]
    if kind == "sentencepiece":
        assert "".join(s["tokens"]) == "\u2581das\u2581Haus\u2581schön</s>"


def test_seq2seq_rescoring_needs_a_source_on_every_line(t5):
    nbest = [{"id": "s1", "source": "ein Haus", "hypotheses": [{"text": "a house"}]},
             {"id": "s2", "hypotheses": [{"text": "a home"}]}]
    with pytest.raises(NlpfError, match="n-best item 2 \\(id 's2'\\) has no 'source'"):
        t5.rescore(nbest)


def test_seq2seq_rescoring_takes_a_null_source_as_missing(t5):
    """Not the text "None": a null source is no source."""
    with pytest.raises(NlpfError, match="n-best item 1 \\(id 's1'\\) has no 'source'"):
        t5.rescore([{"id": "s1", "source": None, "hypotheses": [{"text": "a house"}]}])
