"""One transformer layer: self-attention, optional cross-attention, feed-forward, each with a residual.

pre_norm=True (GPT-2, T5):  x + sublayer(norm(x));  pre_norm=False (BERT): norm(x + sublayer(x)).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from framework.modules.attention import Attention
from framework.modules.feedforward import FeedForward
from framework.modules.norms import make_norm


class TransformerLayer(nn.Module):
    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        ffn_size: int,
        *,
        head_dim: Optional[int] = None,
        act: str = "gelu",
        gated: bool = False,
        bias: bool = True,
        norm: str = "layer",
        eps: float = 1e-5,
        pre_norm: bool = True,
        cross_attention: bool = False,
        attn_scale: Optional[float] = None,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        ffn_dropout: float = 0.0,
    ):
        super().__init__()
        self.pre_norm = pre_norm
        self.attn = Attention(hidden_size, num_heads, head_dim, bias=bias, scale=attn_scale, dropout=attn_dropout)
        self.attn_norm = make_norm(norm, hidden_size, eps)
        if cross_attention:
            self.cross_attn = Attention(hidden_size, num_heads, head_dim, bias=bias, scale=attn_scale,
                                        cross=True, dropout=attn_dropout)
            self.cross_norm = make_norm(norm, hidden_size, eps)
        else:
            self.cross_attn = None
        self.ffn = FeedForward(hidden_size, ffn_size, act, gated=gated, bias=bias, dropout=ffn_dropout)
        self.ffn_norm = make_norm(norm, hidden_size, eps)
        self.dropout = nn.Dropout(dropout)

    def _residual(self, x: torch.Tensor, norm: nn.Module, fn) -> tuple[torch.Tensor, object]:
        if self.pre_norm:
            out, extra = fn(norm(x))
            return x + self.dropout(out), extra
        out, extra = fn(x)
        return norm(x + self.dropout(out)), extra

    def forward(
        self,
        x: torch.Tensor,
        *,
        bias: Optional[torch.Tensor] = None,
        is_causal: bool = False,
        memory: Optional[torch.Tensor] = None,
        memory_bias: Optional[torch.Tensor] = None,
        cache: Optional[tuple[torch.Tensor, ...]] = None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, Optional[tuple[torch.Tensor, ...]]]:
        """cache: (k, v) for self-attention, plus (cross_k, cross_v) in layers with cross-attention."""
        self_cache = cache[:2] if cache is not None else None
        x, new_self = self._residual(
            x, self.attn_norm,
            lambda h: self.attn(h, bias=bias, is_causal=is_causal, cache=self_cache, use_cache=use_cache))
        new_cache = new_self
        if self.cross_attn is not None:
            cross_cache = cache[2:] if cache is not None else None
            x, new_cross = self._residual(
                x, self.cross_norm,
                lambda h: self.cross_attn(h, bias=memory_bias, memory=memory, cache=cross_cache, use_cache=use_cache))
            new_cache = (*new_self, *new_cross) if use_cache else None
        x, _ = self._residual(x, self.ffn_norm, lambda h: (self.ffn(h), None))
        return x, new_cache
