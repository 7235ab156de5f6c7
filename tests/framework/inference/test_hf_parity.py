"""Greedy and beam search on converted GPT-2 and T5 checkpoints give the tokens `transformers` gives."""
from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

import framework  # noqa: E402
from framework.hf import import_hf  # noqa: E402

EOS = 7
PROMPTS = [[11, 42, 99, 3, 150], [5, 17, 23], [200, 1, 64, 80, 120, 33, 9]]
OPTIONS = [
    dict(),
    dict(num_beams=4),
    dict(num_beams=3, length_penalty=0.6, early_stopping=True, num_return_sequences=3),
    dict(num_beams=4, length_penalty=2.0, num_return_sequences=2),
    dict(repetition_penalty=1.4),
    dict(num_beams=2, repetition_penalty=1.2, min_new_tokens=4),
    dict(num_beams=3, length_penalty=1.5, early_stopping="never", num_return_sequences=2),
    dict(no_repeat_ngram_size=2),
    dict(num_beams=3, no_repeat_ngram_size=3, num_return_sequences=2, repetition_penalty=1.1),
]


def _spread(model, seed):
    """Random weights wide enough that the next token is rarely a near tie."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)
    return model.eval()


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    cfg = transformers.GPT2Config(vocab_size=211, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                                  bos_token_id=EOS, eos_token_id=EOS, pad_token_id=EOS)
    torch.manual_seed(0)
    hf = _spread(transformers.GPT2LMHeadModel(cfg), 1)
    root = tmp_path_factory.mktemp("gpt2")
    hf.save_pretrained(root / "hf")
    import_hf(root / "hf", root / "nlpf")
    return hf, framework.load(root / "nlpf")


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    cfg = transformers.T5Config(vocab_size=197, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
                                num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    hf = _spread(transformers.T5ForConditionalGeneration(cfg), 2)
    root = tmp_path_factory.mktemp("t5")
    hf.save_pretrained(root / "hf")
    import_hf(root / "hf", root / "nlpf")
    return hf, framework.load(root / "nlpf")


def _hf_options(o: dict) -> dict:
    return dict(num_beams=o.get("num_beams", 1), length_penalty=o.get("length_penalty", 1.0),
                early_stopping=o.get("early_stopping", False), num_return_sequences=o.get("num_return_sequences", 1),
                repetition_penalty=o.get("repetition_penalty", 1.0), min_new_tokens=o.get("min_new_tokens", 0),
                no_repeat_ngram_size=o.get("no_repeat_ngram_size", 0), do_sample=False)


def _trim(row: list[int], eos: int, pad: int) -> list[int]:
    """transformers pads finished rows; our hypotheses stop before the end-of-sequence token."""
    if eos in row:
        return row[:row.index(eos)]
    return row


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "greedy")
def test_gpt2_generation_matches_transformers(gpt2, options):
    hf, pipe = gpt2
    for prompt in PROMPTS:
        ids = torch.tensor([prompt])
        expected = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, eos_token_id=EOS,
                               pad_token_id=EOS, **_hf_options(options))
        expected = [_trim(r[len(prompt):], EOS, EOS) for r in expected.tolist()]
        ours = pipe.generate_tokens(ids, max_new_tokens=12, eos_token_id=EOS, **options)[0]
        assert [g.token_ids for g in ours] == expected, f"prompt {prompt}"


def test_gpt2_left_padded_batch_matches_transformers(gpt2):
    hf, pipe = gpt2
    width = max(map(len, PROMPTS))
    ids = torch.tensor([[EOS] * (width - len(p)) + p for p in PROMPTS])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in PROMPTS])
    for options in (dict(), dict(num_beams=3)):
        expected = hf.generate(ids, attention_mask=mask, max_new_tokens=10, eos_token_id=EOS, pad_token_id=EOS,
                               **_hf_options(options))
        expected = [_trim(r[width:], EOS, EOS) for r in expected.tolist()]
        ours = pipe.generate_tokens(ids, mask, max_new_tokens=10, eos_token_id=EOS, **options)
        assert [g.token_ids for hyps in ours for g in hyps] == expected


@pytest.mark.parametrize("options", [dict(), dict(num_beams=3, num_return_sequences=2)], ids=["greedy", "beam"])
def test_gpt2_generates_up_to_the_last_position_as_transformers_does(gpt2, options):
    """prompt + max_new_tokens - 1 = n_positions: the last new token is never fed back, in either library.
    Alone (positions from the cache length) and left padded in a batch (positions from the mask)."""
    hf, pipe = gpt2
    limit = hf.config.n_positions
    g = torch.Generator().manual_seed(0)
    long = torch.randint(EOS + 1, 211, (limit - 7,), generator=g).tolist()
    short = long[:20]
    width, new = len(long), limit + 1 - len(long)
    ids = torch.tensor([long, [EOS] * (width - len(short)) + short])
    mask = torch.tensor([[1] * width, [0] * (width - len(short)) + [1] * len(short)])
    for rows in ([0], [0, 1]):
        expected = hf.generate(ids[rows], attention_mask=mask[rows], max_new_tokens=new, eos_token_id=EOS,
                               pad_token_id=EOS, **_hf_options(options))
        expected = [_trim(r[width:], EOS, EOS) for r in expected.tolist()]
        ours = pipe.generate_tokens(ids[rows], mask[rows], max_new_tokens=new, eos_token_id=EOS, **options)
        assert [g.token_ids for hyps in ours for g in hyps] == expected
        assert max(len(g.token_ids) for hyps in ours for g in hyps) == new  # the boundary is reached
    with pytest.raises(framework.errors.NlpfError, match=f"at most {new}"):
        pipe.generate_tokens(ids, mask, max_new_tokens=new + 1, eos_token_id=EOS, **options)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "greedy")
def test_t5_generation_matches_transformers(t5, options):
    hf, pipe = t5
    for prompt in PROMPTS:
        ids = torch.tensor([[t % 197 for t in prompt] + [1]])
        expected = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, **_hf_options(options))
        expected = [_trim(r[1:], 1, 0) for r in expected.tolist()]
        ours = pipe.generate_tokens(ids, max_new_tokens=12, eos_token_id=1, **options)[0]
        assert [g.token_ids for g in ours] == expected, f"prompt {prompt}"


def test_text_methods_need_a_tokenizer(gpt2):
    _, pipe = gpt2
    with pytest.raises(framework.errors.NlpfError, match="no tokenizer"):
        pipe.generate("hello")


@pytest.mark.parametrize("options", [dict(temperature=0.7, top_k=0), dict(top_k=5), dict(top_p=0.8, temperature=1.3, top_k=0),
                                     dict(top_k=20, top_p=0.9, repetition_penalty=1.2)])
def test_gpt2_sampling_matches_transformers_with_the_same_seed(gpt2, options):
    """Same warpers in the same order, and `seed=s` draws what `torch.manual_seed(s)` draws on CPU."""
    hf, pipe = gpt2
    ids = torch.tensor([PROMPTS[0]])
    torch.manual_seed(123)
    expected = hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, max_new_tokens=15,
                           eos_token_id=EOS, pad_token_id=EOS, **options)[0, len(PROMPTS[0]):].tolist()
    ours = pipe.generate_tokens(ids, do_sample=True, seed=123, max_new_tokens=15, eos_token_id=EOS, **options)
    assert ours[0][0].token_ids == _trim(expected, EOS, EOS)


@pytest.mark.parametrize("options", [dict(num_beams=3, top_k=0), dict(num_beams=2, temperature=0.8, top_k=10, top_p=0.9)])
def test_gpt2_beam_sampling_matches_transformers_with_the_same_seed(gpt2, options):
    hf, pipe = gpt2
    ids = torch.tensor([PROMPTS[1]])
    torch.manual_seed(5)
    expected = hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, max_new_tokens=10,
                           eos_token_id=EOS, pad_token_id=EOS, **options)[0, len(PROMPTS[1]):].tolist()
    ours = pipe.generate_tokens(ids, do_sample=True, seed=5, max_new_tokens=10, eos_token_id=EOS, **options)
    assert ours[0][0].token_ids == _trim(expected, EOS, EOS)


def test_bert_classifier_predictions_match_transformers(tmp_path):
    """Tokenizer and model imported together: predict() gives the probabilities transformers gives,
    for single texts and pairs (segment ids) alike."""
    words = ["good", "bad", "movie", "the", "was", "not", "at", "all", "plot", "actors"]
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    cfg = transformers.BertConfig(vocab_size=15, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=64, num_labels=2, id2label={0: "neg", 1: "pos"},
                                  label2id={"neg": 0, "pos": 1})
    torch.manual_seed(0)
    hf = _spread(transformers.BertForSequenceClassification(cfg), 3)
    hf.save_pretrained(tmp_path / "hf")
    tok.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "nlpf")
    pipe = framework.load(tmp_path / "nlpf")
    texts = ["the movie was good", "bad", "not good at all the plot was bad"]
    pairs = ["actors", "the plot", "good"]
    ours = pipe.predict([{"text": t, "text_pair": p} for t, p in zip(texts, pairs)] + texts, batch_size=2)
    with torch.no_grad():
        expected = torch.cat([hf(**tok(texts, pairs, padding=True, return_tensors="pt")).logits.softmax(-1),
                              hf(**tok(texts, padding=True, return_tensors="pt")).logits.softmax(-1)])
    for row, probs in zip(ours, expected.tolist()):
        assert [row["probabilities"]["neg"], row["probabilities"]["pos"]] == pytest.approx(probs, abs=1e-5)
