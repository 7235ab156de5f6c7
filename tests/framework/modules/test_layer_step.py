"""stack_step replays TransformerLayer's eval forward for one new position: the same floats, or None."""
import pytest
import torch
from torch import nn

from framework.modules import TransformerLayer
from framework.modules.kv_cache import StaticCache
from framework.modules.layer_step import stack_step

HIDDEN, HEADS, PROMPT = 32, 4, 5


def make_stack(**kwargs) -> nn.ModuleList:
    torch.manual_seed(0)
    return nn.ModuleList(TransformerLayer(HIDDEN, HEADS, 48, **kwargs) for _ in range(2)).eval()


def run_modules(stack, x, cache, bias=None, memory=None, memory_bias=None):
    for i, layer in enumerate(stack):
        x, _ = layer(x, bias=bias, memory=memory, memory_bias=memory_bias, cache=cache[i], use_cache=True)
    return x


def prefilled(stack, prompt, **kwargs) -> StaticCache:
    cache = StaticCache(PROMPT + 3)
    run_modules(stack, prompt, cache, **kwargs)
    return cache


@pytest.mark.parametrize("kwargs", [
    dict(),  # GPT-2: layer norm, biases, GELU
    dict(norm="rms", bias=False, act="gelu_new", gated=True, attn_scale=1.0, cross_attention=True),  # T5 v1.1 decoder
    dict(norm="rms", bias=False, act="relu", attn_scale=1.0, cross_attention=True),  # T5 decoder
])
@torch.inference_mode()
def test_step_equals_the_modules(kwargs):
    stack = make_stack(**kwargs)
    cross = kwargs.get("cross_attention", False)
    g = torch.Generator().manual_seed(1)
    prompt = torch.randn(3, PROMPT, HIDDEN, generator=g)
    memory = torch.randn(3, 7, HIDDEN, generator=g) if cross else None
    memory_bias = torch.zeros(3, 1, 1, 7).masked_fill(torch.arange(7) >= 5, -1e9) if cross else None
    prompt_bias = torch.randn(1, HEADS, PROMPT, PROMPT, generator=g) if cross else None  # T5: a float bias
    ours = prefilled(stack, prompt, bias=prompt_bias, memory=memory, memory_bias=memory_bias)
    theirs = prefilled(stack, prompt, bias=prompt_bias, memory=memory, memory_bias=memory_bias)
    step = stack_step(stack)
    assert step is not None
    for n in range(2):
        x = torch.randn(3, 1, HIDDEN, generator=g)
        bias = torch.randn(1, HEADS, 1, PROMPT + n + 1, generator=g) if cross else None
        expected = run_modules(stack, x, theirs, bias=bias, memory=memory, memory_bias=memory_bias)
        got = step(x, ours, bias, memory_bias)
        assert torch.equal(got, expected)
        for a, b in zip(ours.layers, theirs.layers):
            assert a.length == b.length == PROMPT + n + 1
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_a_boolean_padding_mask_gives_the_same_floats():
    stack = make_stack()
    g = torch.Generator().manual_seed(2)
    with torch.inference_mode():
        prompt = torch.randn(2, PROMPT, HIDDEN, generator=g)
        keys = torch.ones(2, 1, 1, PROMPT + 1, dtype=torch.bool)
        keys[1, ..., :2] = False  # the second row's prompt is left padded
        ours, theirs = prefilled(stack, prompt, bias=keys[..., :PROMPT]), prefilled(stack, prompt, bias=keys[..., :PROMPT])
        x = torch.randn(2, 1, HIDDEN, generator=g)
        assert torch.equal(stack_step(stack)(x, ours, keys), run_modules(stack, x, theirs, bias=keys))


class Adapter(nn.Linear):
    """A Linear subclass (say, a low-rank adapter) may compute something else: not replayed."""


@pytest.mark.parametrize("change", ["training", "hook", "global hook", "subclassed linear", "post-norm"])
def test_what_cannot_be_replayed_keeps_the_module_path(change):
    stack = make_stack(pre_norm=change != "post-norm")
    handle = None
    if change == "training":
        stack.train()
    elif change == "hook":
        handle = stack[1].ffn.down.register_forward_hook(lambda *args: None)
    elif change == "global hook":
        handle = nn.modules.module.register_module_forward_hook(lambda *args: None)
    elif change == "subclassed linear":
        stack[0].attn.out = Adapter(HIDDEN, HIDDEN)
    try:
        assert stack_step(stack) is None
    finally:
        if handle is not None:
            handle.remove()
    assert stack_step(make_stack()) is not None
