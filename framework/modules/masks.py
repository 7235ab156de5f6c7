"""Attention masks for `scaled_dot_product_attention`: boolean "may attend" masks, or additive float biases
when a relative position bias has to be added anyway (T5).

A mask is only materialised when needed: a causal pass without padding and without a cache returns
`(None, True)` so SDPA can use its fused causal kernel. With a boolean mask, a query row whose keys are all
masked (left padding) comes out as zeros, as in the reference's default SDPA path; with a float bias masked
keys get the dtype's most negative finite value (never -inf, so no NaN).
"""
from __future__ import annotations

from typing import Optional

import torch


def to_bias(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean "may attend" -> additive float bias (0 where allowed, dtype min elsewhere)."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


def _no_padding(attention_mask: torch.Tensor) -> bool:
    """True when every position is real. Costs one host sync, skipped while compiling (no graph breaks)."""
    if torch.compiler.is_compiling():
        return False
    return bool(attention_mask.all())


def causal_mask(q_len: int, k_len: int, device) -> torch.Tensor:
    """[1, 1, q_len, k_len]: the queries are the last q_len of k_len positions and see keys up to themselves."""
    q_pos = torch.arange(k_len - q_len, k_len, device=device)[:, None]
    return (torch.arange(k_len, device=device)[None, :] <= q_pos)[None, None]


def attention_bias(
    attention_mask: Optional[torch.Tensor],
    q_len: int,
    k_len: int,
    *,
    causal: bool,
    device: torch.device,
) -> tuple[Optional[torch.Tensor], bool]:
    """(boolean mask [B|1, 1, q_len, k_len] or None, is_causal) for self-attention over `k_len` keys of which the last
    `q_len` are the queries (k_len > q_len when a key/value cache holds earlier positions).

    attention_mask: [B, k_len] with 1 for real tokens and 0 for padding, or None.
    """
    if attention_mask is not None and _no_padding(attention_mask):
        attention_mask = None  # packed training blocks: keep SDPA's fused causal kernels
    if attention_mask is None:
        if not causal or q_len == 1:
            return None, False
        if q_len == k_len:
            return None, True
    allowed = causal_mask(q_len, k_len, device) if causal else None
    if attention_mask is not None:
        keys = attention_mask[:, None, None, :].to(device=device, dtype=torch.bool)  # [B, 1, 1, k]
        allowed = keys if allowed is None else allowed & keys
    return allowed, False


def bias_for_compute(bias: Optional[torch.Tensor], device_type: str) -> Optional[torch.Tensor]:
    """Cast a float bias once to the autocast dtype (instead of once per layer), keeping masked entries finite."""
    if bias is None or not torch.is_autocast_enabled(device_type):
        return bias
    dtype = torch.get_autocast_dtype(device_type)
    return bias.clamp(min=torch.finfo(dtype).min).to(dtype)


def padding_mask(attention_mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """[B, 1, 1, S] boolean mask that hides padded keys (cross-attention, bidirectional encoders)."""
    if attention_mask is None or _no_padding(attention_mask):
        return None
    return attention_mask[:, None, None, :].to(torch.bool)
