"""Output projection fused with cross-entropy, computed a block of rows at a time.

The plain way (`logits = x @ W.T`, then `F.cross_entropy`) writes the [N, V] logits, reads them back for the
log-softmax, keeps its [N, V] output for the backward pass, zero-fills an [N, V] gradient and reads
everything again. Here each block of rows goes through projection, log-softmax, loss and gradient while its
logits are still in cache, and the gradients of x, W and the bias are finished in the forward pass; the
backward pass only scales them. Same numbers as the plain way (the same log-softmax kernel), less memory
traffic and no [N, V] tensor kept alive.
"""
from __future__ import annotations

from typing import Optional

import torch

IGNORE_INDEX = -100
BLOCK_BYTES = 4 << 20  # float32 logits of one block of rows (measured best on a 2-core AVX-512 CPU, V=8000)
MIN_ROWS = 64  # thinner blocks make the projection's matmuls inefficient
GROUP_BYTES = 32 << 20  # gradient rows kept for the weight-gradient matmul: a long inner dimension for it


def block_rows(vocab_size: int) -> int:
    """Rows per block: the logits of a block fill about BLOCK_BYTES, and at least MIN_ROWS rows."""
    return max(MIN_ROWS, BLOCK_BYTES // (4 * vocab_size))


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, labels, label_smoothing: float, rows: int, group_rows: int):
        dtype = _compute_dtype(x)
        with torch.autocast(x.device.type, enabled=False):
            xc, wc = x.to(dtype), weight.to(dtype)
            bc = bias.to(dtype) if bias is not None else None
            n, vocab = x.shape[0], weight.shape[0]
            valid = labels != IGNORE_INDEX
            safe = labels.masked_fill(~valid, 0)[:, None]
            need_x, need_w, need_b = ctx.needs_input_grad[:3]
            need_b = need_b and bias is not None
            grad_x = torch.empty(x.shape, dtype=torch.float32, device=x.device) if need_x else None
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=x.device) if need_w else None
            grad_b = torch.zeros(vocab, dtype=torch.float32, device=x.device) if need_b else None
            total = torch.zeros((), dtype=torch.float32, device=x.device)
            buffer = torch.empty(min(group_rows, n), vocab, dtype=torch.float32, device=x.device)
            for g_start in range(0, n, group_rows):
                g_end = min(g_start + group_rows, n)
                for start in range(g_start, g_end, rows):
                    end = min(start + rows, g_end)
                    # this block's logits, softmax and gradient stay in cache; the group's gradient rows
                    # then feed two matmuls with a long inner dimension
                    logits = buffer[start - g_start:end - g_start]
                    if dtype != torch.float32:
                        logits.copy_(xc[start:end] @ wc.T if bc is None else torch.addmm(bc, xc[start:end], wc.T))
                    elif bc is None:
                        torch.mm(xc[start:end], wc.T, out=logits)
                    else:
                        torch.addmm(bc, xc[start:end], wc.T, out=logits)
                    torch.log_softmax(logits, dim=-1, out=logits)
                    keep = valid[start:end]
                    picked = logits.gather(1, safe[start:end]).squeeze(1)
                    row_loss = -picked
                    if label_smoothing:
                        row_loss = (1 - label_smoothing) * row_loss - label_smoothing * logits.mean(dim=-1)
                    total += torch.where(keep, row_loss, 0.0).sum()
                    grad = logits.exp_()  # softmax, in place of the log-probabilities
                    if label_smoothing:
                        grad.sub_(label_smoothing / vocab)
                    grad.scatter_add_(1, safe[start:end], torch.full_like(picked[:, None], label_smoothing - 1))
                    grad.mul_(keep[:, None])  # ignored rows contribute nothing
                grad = buffer[:g_end - g_start]
                g = grad.to(dtype)
                if need_x:
                    grad_x[g_start:g_end] = g @ wc
                if need_w and dtype == torch.float32:
                    grad_w.addmm_(g.T, xc[g_start:g_end])
                elif need_w:  # low-precision matmul, float32 accumulation across groups
                    grad_w += g.T @ xc[g_start:g_end]
                if need_b:
                    grad_b += grad.sum(0)
            count = valid.sum().to(torch.float32)
        ctx.save_for_backward(grad_x, grad_w, grad_b, count)
        ctx.dtypes = (x.dtype, weight.dtype, bias.dtype if bias is not None else None)
        return total / count

    @staticmethod
    def backward(ctx, grad_loss):
        grad_x, grad_w, grad_b, count = ctx.saved_tensors
        scale = grad_loss / count
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        out = [None if g is None else (g * scale).to(d) for g, d in ((grad_x, x_dtype), (grad_w, w_dtype),
                                                                    (grad_b, b_dtype))]
        return (*out, None, None, None, None)


def linear_cross_entropy(x: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                         bias: Optional[torch.Tensor] = None, label_smoothing: float = 0.0,
                         rows: Optional[int] = None, group_rows: Optional[int] = None) -> torch.Tensor:
    """Token-mean cross-entropy of `x @ weight.T + bias` against `labels`, without materialising the logits.

    x: [N, H]; weight: [V, H]; bias: [V] or None; labels: [N] class ids, IGNORE_INDEX (-100) rows skipped.
    label_smoothing as in `F.cross_entropy`. rows: rows per block (default: `block_rows(V)`); group_rows: rows whose
    gradients are gathered before the two gradient matmuls (default: about GROUP_BYTES of float32 logits).
    Equals `F.cross_entropy(F.linear(x, weight, bias).float(), labels, ignore_index=-100, label_smoothing=...)`,
    NaN when no row has a label, as there.
    """
    rows = rows or block_rows(weight.shape[0])
    group = max(rows, group_rows or (GROUP_BYTES // (4 * weight.shape[0])) // rows * rows)
    return _LinearCrossEntropy.apply(x, weight, bias, labels, float(label_smoothing), rows, group)
