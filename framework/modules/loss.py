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


def block_rows(vocab_size: int) -> int:
    """Rows per block: the logits of a block fill about BLOCK_BYTES, and at least MIN_ROWS rows."""
    return max(MIN_ROWS, BLOCK_BYTES // (4 * vocab_size))


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, labels, label_smoothing: float, rows: int):
        dtype = _compute_dtype(x)
        with torch.autocast(x.device.type, enabled=False):
            xc, wc = x.to(dtype), weight.to(dtype)
            bc = bias.to(dtype) if bias is not None else None
            n, vocab = x.shape[0], weight.shape[0]
            valid = labels != IGNORE_INDEX
            safe = labels.masked_fill(~valid, 0)[:, None]
            need_grad = ctx.needs_input_grad
            grad_x = torch.empty(x.shape, dtype=torch.float32, device=x.device) if need_grad[0] else None
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=x.device) if need_grad[1] else None
            grad_b = torch.zeros(vocab, dtype=torch.float32, device=x.device) if bias is not None and need_grad[2] else None
            total = torch.zeros((), dtype=torch.float32, device=x.device)
            for start in range(0, n, rows):
                end = min(start + rows, n)
                logits = xc[start:end] @ wc.T if bc is None else torch.addmm(bc, xc[start:end], wc.T)
                logp = torch.log_softmax(logits.float(), dim=-1)
                keep = valid[start:end]
                picked = logp.gather(1, safe[start:end]).squeeze(1)
                if label_smoothing:
                    row_loss = (1 - label_smoothing) * -picked - label_smoothing * logp.mean(dim=-1)
                else:
                    row_loss = -picked
                total += torch.where(keep, row_loss, 0.0).sum()
                if grad_x is None and grad_w is None and grad_b is None:
                    continue
                grad = logp.exp_()  # softmax, in place of the log-probabilities
                if label_smoothing:
                    grad.sub_(label_smoothing / vocab)
                grad.scatter_add_(1, safe[start:end], torch.full_like(picked[:, None], label_smoothing - 1))
                grad.mul_(keep[:, None])  # ignored rows contribute nothing
                g = grad.to(dtype)
                if grad_x is not None:
                    grad_x[start:end] = g @ wc
                if grad_w is not None and dtype == torch.float32:
                    grad_w.addmm_(g.T, xc[start:end])
                elif grad_w is not None:  # low-precision matmul, float32 accumulation across blocks
                    grad_w += g.T @ xc[start:end]
                if grad_b is not None:
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
        return (*out, None, None, None)


def linear_cross_entropy(x: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                         bias: Optional[torch.Tensor] = None, label_smoothing: float = 0.0,
                         rows: Optional[int] = None) -> torch.Tensor:
    """Token-mean cross-entropy of `x @ weight.T + bias` against `labels`, without materialising the logits.

    x: [N, H]; weight: [V, H]; bias: [V] or None; labels: [N] class ids, IGNORE_INDEX (-100) rows skipped.
    label_smoothing as in `F.cross_entropy`. rows: rows per block (default: `block_rows(V)`).
    Equals `F.cross_entropy(F.linear(x, weight, bias).float(), labels, ignore_index=-100, label_smoothing=...)`,
    NaN when no row has a label, as there.
    """
    return _LinearCrossEntropy.apply(x, weight, bias, labels, float(label_smoothing),
                                     rows or block_rows(weight.shape[0]))
