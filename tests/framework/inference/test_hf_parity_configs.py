"""Generation parity with `transformers` across model configurations, not only the defaults: activations,
feed-forward widths, gated T5 feed-forwards, untied T5 heads, relative-position buckets, batched padded prompts."""
from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

import framework  # noqa: E402
from framework.hf import import_hf  # noqa: E402

GPT2_CONFIGS = [
    dict(vocab_size=301, n_embd=48, n_layer=3, n_head=6, n_inner=144, activation_function="gelu"),
    dict(vocab_size=97, n_embd=64, n_layer=1, n_head=2, activation_function="relu", layer_norm_epsilon=1e-6),
    dict(vocab_size=512, n_embd=32, n_layer=2, n_head=4, activation_function="gelu_pytorch_tanh"),
]
T5_CONFIGS = [
    dict(vocab_size=211, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
         tie_word_embeddings=False, relative_attention_num_buckets=8, relative_attention_max_distance=20),
    dict(vocab_size=150, d_model=96, d_kv=8, d_ff=64, num_layers=3, num_heads=6, feed_forward_proj="gated-silu"),
    dict(vocab_size=300, d_model=32, d_kv=32, d_ff=64, num_layers=1, num_heads=2, feed_forward_proj="relu",
         relative_attention_num_buckets=32, relative_attention_max_distance=128),
]
OPTIONS = [dict(), dict(num_beams=3), dict(num_beams=2, length_penalty=0.7, num_return_sequences=2),
           dict(repetition_penalty=1.3), dict(no_repeat_ngram_size=2)]
PROMPTS = [[17, 5, 33, 8], [40], [9, 12, 3, 25, 61, 44, 2]]


def _imported(hf, tmp_path):
    with torch.no_grad():  # wide random weights, so that the next token is rarely a near tie
        for p in hf.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)
    hf.eval().save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "nlpf")
    return framework.load(tmp_path / "nlpf")


def _hf_options(o: dict) -> dict:
    return dict(num_beams=o.get("num_beams", 1), length_penalty=o.get("length_penalty", 1.0),
                num_return_sequences=o.get("num_return_sequences", 1),
                repetition_penalty=o.get("repetition_penalty", 1.0),
                no_repeat_ngram_size=o.get("no_repeat_ngram_size", 0), do_sample=False)


def _until(row: list[int], eos: int) -> list[int]:
    return row[:row.index(eos)] if eos in row else row


@pytest.mark.parametrize("config", GPT2_CONFIGS, ids=lambda c: c["activation_function"])
def test_gpt2_configurations_generate_what_transformers_generates(config, tmp_path):
    eos = 7
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_positions=64, bos_token_id=eos, eos_token_id=eos, **config))
    pipe = _imported(hf, tmp_path)
    width = max(map(len, PROMPTS))
    ids = torch.tensor([[eos] * (width - len(p)) + p for p in PROMPTS])  # left padded, as for generation
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in PROMPTS])
    for options in OPTIONS:
        expected = hf.generate(ids, attention_mask=mask, max_new_tokens=10, eos_token_id=eos, pad_token_id=eos,
                               **_hf_options(options))
        expected = [_until(r[width:], eos) for r in expected.tolist()]
        ours = pipe.generate_tokens(ids, mask, max_new_tokens=10, eos_token_id=eos, **options)
        assert [g.token_ids for hyps in ours for g in hyps] == expected, options


@pytest.mark.parametrize("config", T5_CONFIGS, ids=lambda c: c["feed_forward_proj"])
def test_t5_configurations_generate_what_transformers_generates(config, tmp_path):
    torch.manual_seed(0)
    hf = transformers.T5ForConditionalGeneration(transformers.T5Config(
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, **config))
    pipe = _imported(hf, tmp_path)
    sources = [p + [1] for p in PROMPTS]
    width = max(map(len, sources))
    ids = torch.tensor([s + [0] * (width - len(s)) for s in sources])  # right padded sources
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sources])
    for options in OPTIONS:
        expected = hf.generate(ids, attention_mask=mask, max_new_tokens=10, **_hf_options(options))
        expected = [_until(r[1:], 1) for r in expected.tolist()]
        ours = pipe.generate_tokens(ids, mask, max_new_tokens=10, eos_token_id=1, **options)
        assert [g.token_ids for hyps in ours for g in hyps] == expected, options
