"""A transformer layer computed only at chosen query positions (keys and values still from every position).

Masked-LM training reads the last layer's output at the ~15% masked positions only. Everything in a layer
except the keys and values is position-wise, so the last layer can run its queries, attention output,
residuals, norms and feed-forward on those positions alone: about a sixth of its work instead of all of it.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from framework.modules.attention import Attention, attend
from framework.modules.layer import TransformerLayer


def _attend_at(attn: Attention, hq: torch.Tensor, h: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """Self-attention output for the queries `hq` [B, M, hidden] over the keys/values of `h` [B, L, hidden]."""
    inner = attn.num_heads * attn.head_dim
    w, b = attn.qkv.weight, attn.qkv.bias
    q = F.linear(hq, w[:inner], b[:inner] if b is not None else None)
    kv = F.linear(h, w[inner:], b[inner:] if b is not None else None)
    q = attn._split(q, 1)[0]
    k, v = attn._split(kv, 2).unbind(0)
    out = attend(q, k, v, bias, attn.scale, attn.dropout if attn.training else 0.0)
    out = out.transpose(1, 2).reshape(hq.shape[0], hq.shape[1], inner)
    return attn.out(out)


def layer_at_positions(layer: TransformerLayer, x: torch.Tensor, chosen: torch.Tensor,
                       bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """`layer(x, bias=bias)[0][chosen]` ([N, hidden], row-major order) for a self-attention-only layer,
    computed at the chosen positions only. chosen: [B, L] bool. Costs one host sync (the largest count)."""
    if layer.cross_attn is not None:
        raise ValueError("layer_at_positions supports self-attention layers only")
    b, _, hidden = x.shape
    counts = chosen.sum(dim=1)
    width = max(int(counts.max()), 1)
    # the chosen positions of each row first, in order; rows with fewer fill up with unchosen positions
    order = torch.sort((~chosen).to(torch.int8), dim=1, stable=True).indices[:, :width]
    index = order[..., None].expand(b, width, hidden)
    h = layer._input(x, layer.attn_norm)
    xq = x.gather(1, index)
    hq = h.gather(1, index) if layer.pre_norm else xq
    xq = layer._add(xq, _attend_at(layer.attn, hq, h, bias), layer.attn_norm)
    xq = layer._add(xq, layer.ffn(layer._input(xq, layer.ffn_norm)), layer.ffn_norm)
    keep = torch.arange(width, device=x.device)[None, :] < counts[:, None]
    return xq[keep]
