"""Multi-head attention on `torch.nn.functional.scaled_dot_product_attention`.

Self-attention uses one fused QKV projection; cross-attention projects queries from the decoder and
keys/values (fused) from the encoder output. Padding/causal masks arrive as one boolean mask,
or (with a relative position bias) as one additive float `bias`, computed once per forward by the model and shared by all layers.
A cache entry is the tuple (keys, values), each [B, heads, positions, head_dim], grown by `torch.cat`, or a
preallocated `LayerCache` (framework/modules/kv_cache.py) written in place.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from framework.modules.dropout import dropout as dropout_fn
from framework.modules.kv_cache import LayerCache
from framework.modules.masks import causal_mask, to_bias

KVCache = tuple[torch.Tensor, torch.Tensor]


def attend_with_bias(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: Optional[torch.Tensor],
                     scale: Optional[float], dropout: float = 0.0) -> torch.Tensor:
    """softmax(q.k * scale + bias) v with the bias added inside the score matmul (baddbmm). For a bias that
    needs a gradient SDPA falls back to its unfused math path, which also rescales q and k; this is ~20%
    faster there. A bias already expanded to [B, heads, q, k] (T5 does it once per stack) is used as a view.
    bias: an additive float bias, or None. Dropout on the probabilities uses the fast CPU mask."""
    b, h, n, d = q.shape
    m = k.shape[2]
    alpha = d ** -0.5 if scale is None else scale
    q, kt = q.reshape(b * h, n, d), k.reshape(b * h, m, d).transpose(1, 2)
    if bias is not None and bias.shape[-3:] == (h, n, m):  # per head and query already (T5): a view, fused
        scores = torch.baddbmm(bias.expand(b, h, n, m).reshape(b * h, n, m), q, kt, alpha=alpha)
    else:  # a padding or causal bias broadcasts, added in place rather than expanded to a copy
        scores = torch.bmm(q, kt).mul_(alpha)
        if bias is not None:
            scores.view(b, h, n, m).add_(bias)
    probs = dropout_fn(torch.softmax(scores, dim=-1), dropout)
    return torch.bmm(probs, v.reshape(b * h, m, d)).view(b, h, n, d)


def bias_as(bias: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    """A float bias in the queries' dtype (a boolean mask or None unchanged)."""
    if bias is not None and bias.is_floating_point() and bias.dtype != dtype:
        return bias.clamp(min=torch.finfo(dtype).min).to(dtype)  # float32 min is -inf in float16
    return bias


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor], scale: Optional[float],
           dropout: float = 0.0, is_causal: bool = False) -> torch.Tensor:
    """Scaled dot-product attention [B, heads, n, d]; mask: None, boolean "may attend" or additive float bias.

    SDPA takes its unfused math path for a bias that needs a gradient (T5 training) and for dropout on the
    CPU; there `attend_with_bias` is faster (the bias inside the score matmul, the cheaper dropout mask)."""
    if not ((mask is not None and mask.requires_grad) or (dropout and q.device.type == "cpu")):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout,
                                              is_causal=is_causal and mask is None, scale=scale)
    if mask is None and is_causal:
        mask = causal_mask(q.shape[2], k.shape[2], q.device)
    if mask is not None and mask.dtype == torch.bool:
        mask = to_bias(mask, q.dtype)
    return attend_with_bias(q, k, v, mask, scale, dropout)


class Attention(nn.Module):
    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        head_dim: Optional[int] = None,
        *,
        bias: bool = True,
        scale: Optional[float] = None,
        cross: bool = False,
        dropout: float = 0.0,
    ):
        """scale: multiplies q.k; None means 1/sqrt(head_dim), T5 uses 1.0."""
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim or hidden_size // num_heads
        self.scale = scale
        self.cross = cross
        self.dropout = dropout
        inner = self.num_heads * self.head_dim
        if cross:
            self.q = nn.Linear(hidden_size, inner, bias=bias)
            self.kv = nn.Linear(hidden_size, 2 * inner, bias=bias)
        else:
            self.qkv = nn.Linear(hidden_size, 3 * inner, bias=bias)
        self.out = nn.Linear(inner, hidden_size, bias=bias)

    def _split(self, x: torch.Tensor, parts: int) -> torch.Tensor:
        b, n, _ = x.shape  # [B, N, parts*H*D] -> [parts, B, H, N, D]
        return x.view(b, n, parts, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)

    def forward(
        self,
        x: torch.Tensor,
        *,
        bias: Optional[torch.Tensor] = None,
        is_causal: bool = False,
        memory: Optional[torch.Tensor] = None,
        cache: Optional[KVCache | LayerCache] = None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, Optional[KVCache | LayerCache]]:
        """x: [B, L, hidden]; memory: encoder output for cross-attention (ignored when its keys/values are cached).

        Returns the output [B, L, hidden] and the new cache entry (None unless use_cache).
        """
        b, n, _ = x.shape
        if self.cross:
            q = self._split(self.q(x), 1)[0]
            static = isinstance(cache, LayerCache)
            if cache is not None and (not static or cache.cross is not None):  # encoder keys/values never change
                k, v = cache.cross if static else cache
            else:
                k, v = self._split(self.kv(memory), 2).unbind(0)
                if static:
                    cache.cross = (k, v)
        else:
            q, k, v = self._split(self.qkv(x), 3).unbind(0)
            if isinstance(cache, LayerCache):
                k, v = cache.append(k, v)
            elif cache is not None:
                k = torch.cat([cache[0], k], dim=2)
                v = torch.cat([cache[1], v], dim=2)
        out = attend(q, k, v, bias_as(bias, q.dtype), self.scale, self.dropout if self.training else 0.0, is_causal)
        out = out.transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim)
        if not use_cache:
            return self.out(out), None
        return self.out(out), (cache if isinstance(cache, LayerCache) else (k, v))
