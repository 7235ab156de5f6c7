import math

import pytest
import torch

from framework.errors import NlpfError
from framework.modules import (ACTIVATIONS, Attention, FeedForward, RMSNorm, activation, attention_bias, padding_mask,
                               relative_position_bucket, to_bias)


def naive_attention(q, k, v, allowed=None, bias=None, scale=None):
    scores = q @ k.transpose(-1, -2) * (scale if scale is not None else q.shape[-1] ** -0.5)
    if bias is not None:
        scores = scores + bias
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, -1) @ v


def split(att, x, part):
    b, n, _ = x.shape
    w = att.qkv(x).view(b, n, 3, att.num_heads, att.head_dim)[:, :, part]
    return w.transpose(1, 2)


@pytest.fixture
def att():
    torch.manual_seed(0)
    return Attention(16, 4).eval()


def test_self_attention_with_padding_matches_naive(att):
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    allowed = padding_mask(mask)
    out, _ = att(x, bias=allowed)
    ref = naive_attention(split(att, x, 0), split(att, x, 1), split(att, x, 2), allowed)
    ref = att.out(ref.transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # a padded key changes nothing for the real tokens
    x2 = x.clone()
    x2[1, 3:] = torch.randn(2, 16)
    out2, _ = att(x2, bias=allowed)
    torch.testing.assert_close(out2[1, :3], out[1, :3], atol=1e-6, rtol=1e-6)


def test_causal_mask_is_not_materialised_without_padding():
    assert attention_bias(None, 5, 5, causal=True, device="cpu") == (None, True)
    assert attention_bias(torch.ones(2, 5), 5, 5, causal=True, device="cpu") == (None, True)  # packed blocks
    assert padding_mask(torch.ones(2, 5)) is None
    assert attention_bias(None, 1, 6, causal=True, device="cpu") == (None, False)  # one new token sees all keys
    mask, is_causal = attention_bias(None, 2, 6, causal=True, device="cpu")
    assert not is_causal and mask.shape == (1, 1, 2, 6)
    assert mask[0, 0, 0].tolist() == [True] * 5 + [False]  # query 4 sees keys 0..4
    mask, _ = attention_bias(torch.tensor([[0, 1, 1]]), 3, 3, causal=True, device="cpu")
    assert mask[0, 0].tolist() == [[False, False, False], [False, True, False], [False, True, True]]


def test_causal_attention_and_kv_cache_equal_full_forward(att):
    x = torch.randn(2, 7, 16)
    full, _ = att(x, is_causal=True)
    ref = naive_attention(split(att, x, 0), split(att, x, 1), split(att, x, 2), torch.ones(7, 7).tril().bool())
    torch.testing.assert_close(full, att.out(ref.transpose(1, 2).reshape(2, 7, 16)), atol=1e-5, rtol=1e-5)
    out, cache = att(x[:, :3], is_causal=True, use_cache=True)
    pieces = [out]
    for t in range(3, 7):
        out, cache = att(x[:, t:t + 1], cache=cache, use_cache=True)
        pieces.append(out)
    assert cache[0].shape == (2, 4, 7, 4)
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=1e-5)


def test_cross_attention_and_float_bias():
    torch.manual_seed(1)
    cross = Attention(16, 2, head_dim=6, bias=False, scale=1.0, cross=True).eval()
    x, mem = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    bias = torch.randn(1, 2, 3, 5)
    mem_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    out, cache = cross(x, memory=mem, bias=bias + to_bias(padding_mask(mem_mask), torch.float32), use_cache=True)
    q = cross.q(x).view(2, 3, 2, 6).transpose(1, 2)
    k, v = cross.kv(mem).view(2, 5, 2, 2, 6).permute(2, 0, 3, 1, 4)
    ref = naive_attention(q, k, v, padding_mask(mem_mask), bias=bias, scale=1.0)
    torch.testing.assert_close(out, cross.out(ref.transpose(1, 2).reshape(2, 3, 12)), atol=1e-5, rtol=1e-5)
    # cached encoder keys/values are reused: the memory argument is no longer needed
    again, _ = cross(x, memory=None, bias=bias + to_bias(padding_mask(mem_mask), torch.float32), cache=cache)
    torch.testing.assert_close(again, out)


def test_rms_norm_scales_without_centering():
    norm = RMSNorm(4, eps=0.0)
    norm.weight.data = torch.tensor([1.0, 2.0, 1.0, 1.0])
    x = torch.tensor([[3.0, 3.0, 3.0, 3.0]])
    torch.testing.assert_close(norm(x), torch.tensor([[1.0, 2.0, 1.0, 1.0]]))
    half = RMSNorm(4).to(torch.bfloat16)
    assert half(x.to(torch.bfloat16)).dtype == torch.bfloat16


def test_gated_feed_forward_uses_gate_half():
    ffn = FeedForward(4, 3, act="relu", gated=True, bias=False)
    x = torch.randn(2, 4)
    gate_w, up_w = ffn.up.weight[:3], ffn.up.weight[3:]
    ref = ffn.down(torch.relu(x @ gate_w.T) * (x @ up_w.T))
    torch.testing.assert_close(ffn(x), ref)


def test_activations_and_unknown_name():
    x = torch.linspace(-3, 3, 11)
    new = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    torch.testing.assert_close(activation("gelu_new")(x), new)
    with pytest.raises(NlpfError, match="Did you mean 'gelu'"):
        activation("geluu")


def test_relative_position_buckets():
    rel = torch.tensor([0, 1, -1, 7, -7, 200, -200])
    assert relative_position_bucket(rel, True, 32, 128).tolist() == [0, 17, 1, 23, 7, 31, 15]
    assert relative_position_bucket(torch.tensor([3, 0, -3, -500]), False, 32, 128).tolist() == [0, 0, 3, 31]


def test_every_activation_matches_transformers():
    transformers_activations = pytest.importorskip("transformers.activations")
    x = torch.randn(1000) * 6
    for name, fn in ACTIVATIONS.items():
        torch.testing.assert_close(fn(x), transformers_activations.ACT2FN[name](x), atol=1e-6, rtol=0, msg=name)


def test_bf16_autocast_runs_every_architecture_without_nans():
    from omegaconf import OmegaConf

    from framework.model import build_model

    cfgs = [
        {"model": {"name": "t5", "vocab_size": 40, "d_model": 16, "d_kv": 4, "d_ff": 16, "num_layers": 1,
                   "num_heads": 2, "feed_forward_proj": "gated-gelu"}, "head": {"name": "lm"}},
        {"model": {"name": "gpt", "vocab_size": 40, "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 8},
         "head": {"name": "lm"}},
    ]
    ids = torch.tensor([[3, 4, 5, 6], [0, 0, 7, 8]])
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])  # left padding: fully masked rows
    for cfg in cfgs:
        model = build_model(OmegaConf.create(cfg)).eval()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(ids, attention_mask=mask, decoder_input_ids=ids, decoder_attention_mask=mask)
        assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.logits.float()).all()
