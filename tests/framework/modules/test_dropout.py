"""The fast CPU dropout: its drop rate, its scaling, its gradient, its seed; and attention dropout through it."""
import pytest
import torch
import torch.nn.functional as F

from framework.modules import Dropout
from framework.modules.attention import attend
from framework.modules.dropout import dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drop_rate_and_scale_keep_the_expected_value(p):
    torch.manual_seed(0)
    out = dropout(torch.ones(2_000_000), p)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 2e-3
    kept = out[out != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / (1 - round(p * 65536) / 65536)))
    assert abs(out.mean().item() - 1.0) < 5e-3


def test_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(1)
    x = torch.randn(64, 33, requires_grad=True)
    out = dropout(x, 0.3)
    g = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, g)
    ratio = torch.where(x != 0, out / x, torch.zeros_like(x)).detach()
    torch.testing.assert_close(grad, g * ratio)
    values = torch.unique(ratio.round(decimals=4)).tolist()
    assert values[0] == 0.0 and values[1:] == pytest.approx([1 / (1 - 19661 / 65536)], abs=1e-4)


def test_seeded_eval_and_odd_sizes():
    x = torch.randn(3, 5, 7)  # 105 elements: not a multiple of the four draws per 64-bit word
    torch.manual_seed(5)
    a = dropout(x, 0.2)
    torch.manual_seed(5)
    b = dropout(x, 0.2)
    torch.testing.assert_close(a, b)
    layer = Dropout(0.2).eval()
    assert layer(x) is x and dropout(x, 0.0) is x
    assert dropout(x, 1.0).abs().sum() == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(1.5)


@pytest.mark.parametrize("mask", ["none", "causal", "padding"])
def test_attention_dropout_on_the_cpu_is_softmax_then_the_same_mask(mask):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 4) for _ in range(3))
    allowed = None
    if mask == "padding":
        allowed = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)[:, None, None, :]
    torch.manual_seed(7)
    got = attend(q, k, v, allowed, None, dropout=0.25, is_causal=mask == "causal")
    torch.manual_seed(7)
    keep, scale = keep_mask(torch.Size((6, 6, 6)), 0.25)  # [B * heads, queries, keys], drawn the same way
    scores = q @ k.transpose(-1, -2) / 2.0
    if mask == "causal":
        scores = scores.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, -1) * keep.view(2, 3, 6, 6) * scale
    torch.testing.assert_close(got, probs @ v)
    # no dropout: SDPA itself
    torch.testing.assert_close(attend(q, k, v, allowed, None, is_causal=mask == "causal"),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=mask == "causal"))


def test_bfloat16_scales_by_the_exact_factor_not_a_rounded_one():
    x = torch.randn(4096).to(torch.bfloat16)
    torch.manual_seed(3)
    got = dropout(x, 0.1)
    torch.manual_seed(3)
    keep, scale = keep_mask(x.shape, 0.1)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, (x.float() * keep * scale).to(torch.bfloat16))  # one rounding, of the product
