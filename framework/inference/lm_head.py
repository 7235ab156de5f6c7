"""The output head during decoding, with its large projections multiplied in [in, out] layout.

For a few rows (batch x beams 4 to 16) MKL multiplies x [rows, hidden] by a contiguous [hidden, vocab] matrix
about twice as fast as by nn.Linear's [vocab, hidden] weight (torch 2.13, AVX-512, vocab 50257 x hidden 256,
8 rows: 3.0 vs 7.8 ms); for one row both are the same memory-bound pass. So decoding gives the head's big
Linear weights as transposed views of a contiguous transposed copy, made once per weight version and kept
while the weight lives (one extra copy of the output embedding in memory). The results agree with the
plain layout to float rounding (different summation order).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.weak import WeakIdKeyDictionary

MIN_ROWS, MAX_ROWS = 4, 16  # outside this range the plain layout was as fast (or, at 768 x 50257, faster)
MIN_WEIGHT = 1 << 20  # elements; smaller matrices stay in cache either way

_copies = WeakIdKeyDictionary()  # weight -> (its version key, transposed copy); tensors compare by identity


def _transposed(weight: torch.Tensor) -> torch.Tensor | None:
    """A [in, out] contiguous copy of `weight`, remade when the weight changes (training, load, .to());
    None for weights without a version counter (made under inference_mode), which could change unseen."""
    try:
        key = (weight._version, weight.data_ptr(), weight.dtype, weight.device)
    except RuntimeError:
        return None
    found = _copies.get(weight)
    if found is None or found[0] != key:
        found = (key, weight.detach().t().contiguous())
        _copies[weight] = found
    return found[1]


def big_linears(head: nn.Module) -> list[str]:
    """Names of the head's Linear layers whose weight is worth re-laying out."""
    return [name for name, m in head.named_modules()
            if isinstance(m, nn.Linear) and m.weight.numel() >= MIN_WEIGHT]


def head_logits(head: nn.Module, hidden: torch.Tensor, linears: list[str]) -> torch.Tensor:
    """head(hidden), with the weights of `linears` (from `big_linears`) in the faster layout for many rows."""
    rows = hidden.numel() // hidden.shape[-1]
    if not MIN_ROWS <= rows <= MAX_ROWS or not linears or hidden.device.type != "cpu":  # measured on CPU (MKL) only
        return head(hidden)
    weights = {}
    for name in linears:
        copy = _transposed(head.get_submodule(name).weight)
        if copy is None:
            return head(hidden)
        weights[f"{name}.weight"] = copy.t()
    return functional_call(head, weights, (hidden,), strict=False)


def release_copies() -> None:
    """Free the transposed copies (they are remade at the next batched generation)."""
    _copies.clear()
