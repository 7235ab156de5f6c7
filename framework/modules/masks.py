"""Attention masks as additive biases for `scaled_dot_product_attention`.

A mask is only materialised when needed: a causal pass without padding and without a cache returns
`(None, True)` so SDPA can use its fused causal kernel. Masked positions get the dtype's most negative
finite value (not -inf), so a row with every key masked gives a uniform softmax instead of NaN,
exactly like the reference implementations.
"""
from __future__ import annotations

from typing import Optional

import torch


def to_bias(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean "may attend" -> additive float bias (0 where allowed, dtype min elsewhere)."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


def attention_bias(
    attention_mask: Optional[torch.Tensor],
    q_len: int,
    k_len: int,
    *,
    causal: bool,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[Optional[torch.Tensor], bool]:
    """(bias [B|1, 1, q_len, k_len] or None, is_causal) for self-attention over `k_len` keys of which the last
    `q_len` are the queries (k_len > q_len when a key/value cache holds earlier positions).

    attention_mask: [B, k_len] with 1 for real tokens and 0 for padding, or None.
    """
    if attention_mask is None:
        if not causal or q_len == 1:
            return None, False
        if q_len == k_len:
            return None, True
    allowed = None
    if causal:
        q_pos = torch.arange(k_len - q_len, k_len, device=device)[:, None]
        allowed = (torch.arange(k_len, device=device)[None, :] <= q_pos)[None, None]  # [1, 1, q, k]
    if attention_mask is not None:
        keys = attention_mask[:, None, None, :].to(device=device, dtype=torch.bool)  # [B, 1, 1, k]
        allowed = keys if allowed is None else allowed & keys
    return to_bias(allowed, dtype), False


def padding_bias(attention_mask: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    """[B, 1, 1, S] bias that hides padded keys (cross-attention, bidirectional encoders)."""
    if attention_mask is None:
        return None
    return to_bias(attention_mask[:, None, None, :].to(torch.bool), dtype)
