"""The training-path kernels compute what the reference formulas compute, gradients included."""
import torch
import torch.nn.functional as F

from framework.modules import RMSNorm, RelativePositionBias
from framework.modules.attention import attend_with_bias


def _grads(out, inputs, seed=0):
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad(out, inputs, g)


def test_rms_norm_fused_kernel_matches_the_t5_formula():
    torch.manual_seed(0)
    norm = RMSNorm(16, eps=1e-6)
    norm.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(3, 5, 16, requires_grad=True)
    reference = norm.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))
    got = norm(x)
    torch.testing.assert_close(got, reference)
    for a, b in zip(_grads(got, [x, norm.weight]), _grads(reference, [x, norm.weight])):
        torch.testing.assert_close(a, b)


def test_attention_with_a_learned_bias_matches_sdpa():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 8, requires_grad=True) for _ in range(3))
    bias = torch.randn(1, 3, 7, 7, requires_grad=True)
    for scale in (None, 1.0):
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)
        got = attend_with_bias(q, k, v, bias, scale)
        torch.testing.assert_close(got, expected)
        for a, b in zip(_grads(got, [q, k, v, bias]), _grads(expected, [q, k, v, bias])):
            torch.testing.assert_close(a, b)
    expanded = bias.expand(2, -1, -1, -1).contiguous()  # what T5 passes in training: a view per layer
    torch.testing.assert_close(attend_with_bias(q, k, v, expanded, 1.0),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0))


def test_relative_position_buckets_are_cached_per_shape():
    rpb = RelativePositionBias(num_heads=2, num_buckets=8, max_distance=16)
    first = rpb(5, 5)
    assert rpb.buckets(5, 5, 0, first.device) is rpb.buckets(5, 5, 0, first.device)
    torch.testing.assert_close(rpb(5, 5), first)
    assert rpb(1, 6, past_length=5).shape == (1, 2, 1, 6)
    torch.testing.assert_close(rpb(1, 6, past_length=5)[..., :5], rpb(6, 6)[:, :, 5:, :5])  # same positions
    first.sum().backward()  # the table still gets its gradient through the cached ids
    assert rpb.table.weight.grad.abs().sum() > 0
