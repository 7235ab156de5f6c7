"""The fused projection + cross-entropy equals the plain two-step computation, gradients included."""
import math

import pytest
import torch
import torch.nn.functional as F

from framework.modules.loss import IGNORE_INDEX, block_rows, linear_cross_entropy


def _inputs(n=37, h=16, v=53, bias=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, h, generator=g, requires_grad=True)
    w = (torch.randn(v, h, generator=g) * 0.3).requires_grad_()
    b = (torch.randn(v, generator=g) * 0.1).requires_grad_() if bias else None
    labels = torch.randint(0, v, (n,), generator=g)
    labels[::5] = IGNORE_INDEX
    return x, w, b, labels


def _grads(loss, *tensors):
    return torch.autograd.grad(loss, [t for t in tensors if t is not None])


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("rows,group", [(1, 1), (8, 8), (8, 24), (16, None), (100, None)])  # blocks and groups
def test_matches_linear_then_cross_entropy(bias, smoothing, rows, group):  # that do and do not divide the 37 rows
    x, w, b, labels = _inputs(bias=bias)
    expected = F.cross_entropy(F.linear(x, w, b), labels, ignore_index=IGNORE_INDEX, label_smoothing=smoothing)
    got = linear_cross_entropy(x, w, labels, bias=b, label_smoothing=smoothing, rows=rows, group_rows=group)
    torch.testing.assert_close(got, expected)
    for a, e in zip(_grads(got * 3.0, x, w, b), _grads(expected * 3.0, x, w, b)):  # upstream gradient scales
        torch.testing.assert_close(a, e)


def test_a_wide_vocabulary_with_the_default_blocks():
    x, w, b, labels = _inputs(n=300, h=8, v=20000, bias=True)  # several blocks and groups of long rows
    expected = F.cross_entropy(F.linear(x, w, b), labels)
    got = linear_cross_entropy(x, w, labels, bias=b)
    torch.testing.assert_close(got, expected)
    for a, e in zip(_grads(got, x, w, b), _grads(expected, x, w, b)):
        torch.testing.assert_close(a, e)


def test_only_the_tensors_that_need_gradients_get_them():
    x, w, _, labels = _inputs()
    x = x.detach()
    loss = linear_cross_entropy(x, w, labels)
    (gw,) = torch.autograd.grad(loss, [w])
    expected = F.cross_entropy(F.linear(x, w), labels)
    torch.testing.assert_close(gw, torch.autograd.grad(expected, [w])[0])


def test_no_labels_gives_nan_like_cross_entropy():
    x, w, _, labels = _inputs()
    labels = torch.full_like(labels, IGNORE_INDEX)
    assert math.isnan(linear_cross_entropy(x, w, labels).item())
    assert math.isnan(F.cross_entropy(F.linear(x, w), labels).item())


def test_bf16_autocast_projects_in_bf16_and_keeps_float32_gradients():
    x, w, _, labels = _inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy(x, w, labels)
        expected = F.cross_entropy(F.linear(x, w).float(), labels)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=2e-2, atol=2e-2)
    gx, gw = _grads(got, x, w)
    assert gx.dtype == gw.dtype == torch.float32
    ex, ew = _grads(expected, x, w)
    torch.testing.assert_close(gw, ew, rtol=5e-2, atol=5e-3)


def test_block_rows_keeps_a_block_of_logits_small():
    assert 64 <= block_rows(8000) and block_rows(8000) * 8000 * 4 <= 4 << 20
    assert block_rows(10**7) == 64  # never fewer rows than a matmul needs to run efficiently
