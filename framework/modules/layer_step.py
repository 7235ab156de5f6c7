"""One decoding step through a stack of pre-norm TransformerLayers, without nn.Module calls.

At batch 1 decoding is bound by per-call overhead, not arithmetic: a GPT-2 token (4 layers, hidden 256,
vocabulary 50257) costs ~0.9 ms of output projection, ~0.3 ms of the layers' matrix-vector products and
~0.5 ms of Python (module calls, attribute lookups, mask and cache bookkeeping). `stack_step` reads the
layers' weights once per `generate` call and replays `TransformerLayer._forward` in eval mode for one new
position per row as plain functional calls, writing keys and values into the generation's `LayerCache`.
It runs the same operations in the same order as the modules, so it gives the same floats
(tests/framework/modules/test_layer_step.py compares them exactly).

Only what it can replay exactly qualifies: the stock modules (a subclass or a wrapped Linear, e.g. an
adapter, may compute something else), eval mode, pre-norm layers, and no forward hooks (they would not
run). Anything else returns None and the caller keeps the module path.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_globals

from framework.modules.attention import Attention, attend, bias_as
from framework.modules.feedforward import FeedForward
from framework.modules.kv_cache import LayerCache
from framework.modules.layer import TransformerLayer
from framework.modules.norms import RMSNorm

# (x [B, 1, hidden], the layer's cache, self-attention mask/bias, cross-attention bias) -> x
LayerStep = Callable[[torch.Tensor, LayerCache, Optional[torch.Tensor], Optional[torch.Tensor]], torch.Tensor]


def plain_modules(*modules: nn.Module) -> bool:
    """True when no forward hook is registered on these modules, their children or globally."""
    if module_globals._global_forward_hooks or module_globals._global_forward_pre_hooks:
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for root in modules for m in root.modules())


def linear_fn(m: nn.Module) -> Optional[Callable]:
    return partial(F.linear, weight=m.weight, bias=m.bias) if type(m) is nn.Linear else None


def norm_fn(m: nn.Module) -> Optional[Callable]:
    if type(m) is nn.LayerNorm:
        return partial(F.layer_norm, normalized_shape=m.normalized_shape, weight=m.weight, bias=m.bias, eps=m.eps)
    return m.forward if type(m) is RMSNorm else None


def _attention_step(attn: nn.Module) -> Optional[Callable]:
    if type(attn) is not Attention:
        return None
    heads, dim, scale = attn.num_heads, attn.head_dim, attn.scale
    out = linear_fn(attn.out)
    inner = linear_fn(attn.q if attn.cross else attn.qkv)
    if out is None or inner is None:
        return None

    def self_attention(h, cache, bias):
        b = h.shape[0]
        q, k, v = inner(h).view(b, 1, 3, heads, dim).permute(2, 0, 3, 1, 4).unbind(0)
        k, v = cache.append(k, v)
        a = attend(q, k, v, bias_as(bias, q.dtype), scale)
        return out(a.transpose(1, 2).reshape(b, 1, heads * dim))

    def cross_attention(h, cache, bias):
        b = h.shape[0]
        q = inner(h).view(b, 1, 1, heads, dim).permute(2, 0, 3, 1, 4)[0]
        k, v = cache.cross  # computed by the prompt's forward through the modules
        a = attend(q, k, v, bias_as(bias, q.dtype), scale)
        return out(a.transpose(1, 2).reshape(b, 1, heads * dim))

    return cross_attention if attn.cross else self_attention


def _feed_forward_step(ffn: nn.Module) -> Optional[Callable]:
    if type(ffn) is not FeedForward:
        return None
    up, down, act, gated = linear_fn(ffn.up), linear_fn(ffn.down), ffn.act, ffn.gated
    if up is None or down is None:
        return None

    def feed_forward(h):
        h = up(h)
        if gated:
            gate, h = h.chunk(2, dim=-1)
            return down(act(gate) * h)
        return down(act(h))

    return feed_forward


def layer_step(layer: nn.Module) -> Optional[LayerStep]:
    """The eval-mode forward of one TransformerLayer for one new position, or None if it cannot be replayed."""
    if type(layer) is not TransformerLayer or layer.training or not layer.pre_norm:
        return None
    attn, attn_norm = _attention_step(layer.attn), norm_fn(layer.attn_norm)
    ffn, ffn_norm = _feed_forward_step(layer.ffn), norm_fn(layer.ffn_norm)
    cross = cross_norm = None
    if layer.cross_attn is not None:
        cross, cross_norm = _attention_step(layer.cross_attn), norm_fn(layer.cross_norm)
        if cross is None or cross_norm is None:
            return None
    if None in (attn, attn_norm, ffn, ffn_norm):
        return None

    def step(x, cache, bias, memory_bias):
        x = x + attn(attn_norm(x), cache, bias)
        if cross is not None:
            x = x + cross(cross_norm(x), cache, memory_bias)
        return x + ffn(ffn_norm(x))

    return step


def stack_step(layers: nn.ModuleList) -> Optional[Callable]:
    """(x [B, 1, hidden], StaticCache, bias, memory_bias) -> x through every layer, or None when some layer
    cannot be replayed exactly (the caller then runs the modules). The caller checks what holds the layers
    (hooks on the backbone, its own class) itself."""
    steps = [layer_step(layer) for layer in layers]
    if None in steps or not plain_modules(*layers):
        return None

    def run(x, cache, bias=None, memory_bias=None):
        for i, step in enumerate(steps):
            x = step(x, cache[i], bias, memory_bias)
        return x

    return run
