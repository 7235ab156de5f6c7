"""A preallocated key/value cache for incremental decoding.

The default cache (`use_cache=True` without `past_key_values`) is a tuple of per-layer tuples that grows by
`torch.cat`: a copy of every layer's keys and values per new token. A `StaticCache` instead allocates
[B, heads, capacity, head_dim] per layer on the first write, writes each step's keys and values in place,
and lets attention read the filled prefix (a view, no copy). Generation passes one to backbones whose class
sets `static_cache = True` (those built from `TransformerLayer` that read the cache only as below).

It reads like the tuple cache: `cache[i]` is layer i's `LayerCache`, whose `[0]`/`[1]` are the filled
keys/values (so `past_key_values[0][0].shape[2]` is the cached length) and `[2:]` the cross-attention
keys/values. Unlike the tuple cache it changes in place: a forward that reads it also appends to it, so one
cache cannot feed two different continuations.
"""
from __future__ import annotations

from typing import Optional

import torch


class LayerCache:
    """One layer's preallocated self-attention keys/values, plus cross-attention keys/values computed once."""

    def __init__(self, capacity: int):
        self.capacity = capacity  # positions to allocate for (prompt + new tokens)
        self.keys: Optional[torch.Tensor] = None  # [B, heads, capacity, head_dim]
        self.values: Optional[torch.Tensor] = None
        self.length = 0  # positions filled
        self.cross: Optional[tuple[torch.Tensor, torch.Tensor]] = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v [B, heads, n, head_dim] after the filled positions; return all filled keys and values."""
        end = self.length + k.shape[2]
        if self.keys is None or end > self.keys.shape[2]:
            self._allocate(k, v, max(self.capacity, end, 2 * self.length))
        self.keys[:, :, self.length:end] = k
        self.values[:, :, self.length:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def _allocate(self, k: torch.Tensor, v: torch.Tensor, size: int) -> None:
        # also the fallback when a caller decodes past the planned capacity: correct, one copy
        keys = k.new_empty(k.shape[0], k.shape[1], size, k.shape[3])
        values = v.new_empty(v.shape[0], v.shape[1], size, v.shape[3])
        if self.length:
            keys[:, :, :self.length] = self.keys[:, :, :self.length]
            values[:, :, :self.length] = self.values[:, :, :self.length]
        self.keys, self.values = keys, values

    def select_rows(self, index: torch.Tensor) -> "LayerCache":
        """Keep/reorder/repeat batch rows (beam search); in place, returns self."""
        if self.keys is not None:
            n = self.length
            if index.shape[0] == self.keys.shape[0]:  # same batch size: reuse the buffers
                self.keys[:, :, :n] = self.keys[:, :, :n].index_select(0, index)
                self.values[:, :, :n] = self.values[:, :, :n].index_select(0, index)
            else:
                self.keys = self.keys.index_select(0, index)
                self.values = self.values.index_select(0, index)
        if self.cross is not None:
            self.cross = (self.cross[0].index_select(0, index), self.cross[1].index_select(0, index))
        return self

    def _parts(self) -> tuple[torch.Tensor, ...]:
        if self.keys is None:
            empty = torch.empty(0, 0, 0, 0)
            filled = (empty, empty)
        else:
            filled = (self.keys[:, :, :self.length], self.values[:, :, :self.length])
        return filled + (self.cross or ())

    def __getitem__(self, i):
        return self._parts()[i]

    def __len__(self) -> int:
        return 2 + (2 if self.cross is not None else 0)


class StaticCache:
    """The whole model's preallocated cache; layers are created on first use, so the caller needs to know
    only how many positions to plan for."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.layers: list[LayerCache] = []

    def __getitem__(self, i: int) -> LayerCache:
        while len(self.layers) <= i:
            self.layers.append(LayerCache(self.capacity))
        return self.layers[i]

    def __bool__(self) -> bool:  # an empty cache is still "a cache was passed"
        return True

    def __len__(self) -> int:
        return len(self.layers)

    def select_rows(self, index: torch.Tensor) -> "StaticCache":
        for layer in self.layers:
            layer.select_rows(index)
        return self


def split_layer_cache(cache):
    """(self-attention part, cross-attention part) of one layer's cache entry."""
    if cache is None:
        return None, None
    if isinstance(cache, LayerCache):
        return cache, cache  # both attentions update the same object
    return cache[:2], cache[2:]


def join_layer_cache(self_part, cross_part):
    """The layer's new cache entry from its attentions' entries."""
    if isinstance(self_part, LayerCache):
        return self_part
    return (*self_part, *cross_part)
