"""One transformer layer: self-attention, optional cross-attention, feed-forward, each with a residual.

pre_norm=True (GPT-2, T5):  x + sublayer(norm(x));  pre_norm=False (BERT): norm(x + sublayer(x)).
With `checkpointing = True` a training forward keeps only the layer's inputs and recomputes the rest in the
backward (activation checkpointing: less memory, up to a third more compute).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from framework.modules.attention import Attention
from framework.modules.dropout import Dropout
from framework.modules.feedforward import FeedForward
from framework.modules.kv_cache import join_layer_cache, split_layer_cache
from framework.modules.norms import make_norm


class TransformerLayer(nn.Module):
    checkpointing = False  # set per instance by framework.training.memory.checkpoint_activations

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
        self.dropout = Dropout(dropout)

    def _input(self, x: torch.Tensor, norm: nn.Module) -> torch.Tensor:
        return norm(x) if self.pre_norm else x

    def _add(self, x: torch.Tensor, out: torch.Tensor, norm: nn.Module) -> torch.Tensor:
        if self.training:  # a module call costs ~3 us; decoding would pay it twice per layer and token
            out = self.dropout(out)
        return x + out if self.pre_norm else norm(x + out)

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
        """cache: (k, v) for self-attention, plus (cross_k, cross_v) in layers with cross-attention, or a
        preallocated `LayerCache` holding both."""
        if self.checkpointing and self.training and torch.is_grad_enabled() and not use_cache:
            # the RNG state is restored for the recomputation, so dropout draws the same masks
            return checkpoint(self._forward, x, bias, is_causal, memory, memory_bias, cache, use_cache,
                              use_reentrant=False)
        return self._forward(x, bias, is_causal, memory, memory_bias, cache, use_cache)

    def _forward(self, x, bias, is_causal, memory, memory_bias, cache, use_cache):
        self_cache, cross_cache = split_layer_cache(cache)
        out, new_cache = self.attn(self._input(x, self.attn_norm), bias=bias, is_causal=is_causal,
                                   cache=self_cache, use_cache=use_cache)
        x = self._add(x, out, self.attn_norm)
        if self.cross_attn is not None:
            out, new_cross = self.cross_attn(self._input(x, self.cross_norm), bias=memory_bias, memory=memory,
                                             cache=cross_cache, use_cache=use_cache)
            x = self._add(x, out, self.cross_norm)
            new_cache = join_layer_cache(new_cache, new_cross) if use_cache else None
        x = self._add(x, self.ffn(self._input(x, self.ffn_norm)), self.ffn_norm)
        return x, new_cache
