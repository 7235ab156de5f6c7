"""The preallocated key/value cache: same results as the growing tuple cache, written in place."""
from __future__ import annotations

import pytest
import torch

from framework.modules import TransformerLayer
from framework.modules.kv_cache import LayerCache, StaticCache


def layer(cross: bool) -> TransformerLayer:
    torch.manual_seed(0)
    return TransformerLayer(16, 4, 32, cross_attention=cross).eval()


def decode(block, x, memory, cache, steps_from: int):
    """Prefill x[:, :steps_from] causally, then one position at a time; returns outputs and the cache."""
    n = x.shape[1]
    mask = torch.ones(steps_from, steps_from).tril().bool()
    out, cache = block(x[:, :steps_from], bias=mask, memory=memory, cache=cache, use_cache=True)
    pieces = [out]
    for t in range(steps_from, n):
        out, cache = block(x[:, t:t + 1], memory=memory, cache=cache, use_cache=True)
        pieces.append(out)
    return torch.cat(pieces, 1), cache


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("capacity", [7, 2])  # 2: the cache has to grow past its planned size
def test_static_cache_equals_the_tuple_cache_and_the_full_forward(cross, capacity):
    block = layer(cross)
    x, memory = torch.randn(2, 7, 16), torch.randn(2, 5, 16) if cross else None
    full, _ = block(x, is_causal=True, memory=memory)
    dynamic, tuple_cache = decode(block, x, memory, None, 3)
    static, entry = decode(block, x, memory, StaticCache(capacity)[0], 3)
    torch.testing.assert_close(dynamic, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(static, dynamic, atol=1e-6, rtol=1e-6)
    assert isinstance(entry, LayerCache) and entry.length == 7
    assert len(entry) == len(tuple_cache) == (4 if cross else 2)
    for ours, theirs in zip(entry, tuple_cache):  # reads like the tuple cache: k, v (, cross k, cross v)
        torch.testing.assert_close(ours, theirs)


def test_steps_write_in_place_and_cross_keys_are_computed_once():
    block = layer(cross=True)
    x, memory = torch.randn(1, 6, 16), torch.randn(1, 4, 16)
    cache = StaticCache(6)
    assert cache[0][0].shape[2] == 0  # "past length" before the first write
    _, entry = block(x[:, :2], bias=torch.ones(2, 2).tril().bool(), memory=memory, cache=cache[0], use_cache=True)
    buffer, cross = entry.keys.data_ptr(), entry.cross
    for t in range(2, 6):
        _, entry = block(x[:, t:t + 1], memory=None, cache=entry, use_cache=True)  # memory no longer needed
    assert entry.keys.data_ptr() == buffer and entry.keys.shape[2] == 6  # no reallocation, no growth by cat
    assert entry.cross is cross
    assert entry[0].shape == (1, 4, 6, 4)


def test_select_rows_reorders_and_expands_the_filled_positions():
    torch.manual_seed(1)
    cache = LayerCache(capacity=5)
    k, v = torch.randn(2, 3, 2, 4), torch.randn(2, 3, 2, 4)
    cache.append(k, v)
    cache.cross = (torch.randn(2, 3, 6, 4), torch.randn(2, 3, 6, 4))
    cross_k = cache.cross[0]
    cache.select_rows(torch.tensor([1, 0]))  # same batch size: in place
    torch.testing.assert_close(cache[0], k.flip(0))
    torch.testing.assert_close(cache[3], cache.cross[1])
    torch.testing.assert_close(cache.cross[0], cross_k.flip(0))
    cache.select_rows(torch.tensor([0, 0, 1]))  # beam search expands rows
    assert cache.keys.shape == (3, 3, 5, 4)
    torch.testing.assert_close(cache[1], v.flip(0)[[0, 0, 1]])
    new_k = torch.randn(3, 3, 1, 4)
    keys, _ = cache.append(new_k, torch.randn(3, 3, 1, 4))
    torch.testing.assert_close(keys, torch.cat([k.flip(0)[[0, 0, 1]], new_k], 2))


def test_an_empty_static_cache_is_still_a_cache():
    cache = StaticCache(4)
    assert cache and len(cache) == 0
    assert cache[2] is cache[2] and len(cache) == 3
