"""Generation's steps after the prompt through the backbone's `decoding_step` (no module calls) give the same
tokens and scores as the modules."""
import pytest
import torch

from plugins.gpt.model import GPT
from plugins.t5.model import T5

PROMPTS = ["The cat", "A much longer prompt about dogs", "x"]
MAX_NEW = 9


def generate(pipe, monkeypatch, backbone_class, fast: bool, **options):
    """(tokens and scores, how many steps went through decoding_step)."""
    calls = []
    original = backbone_class.decoding_step

    def counted(self):
        step = original(self)
        if not fast or step is None:
            return None
        return lambda *args: calls.append(1) or step(*args)

    monkeypatch.setattr(backbone_class, "decoding_step", counted)
    ids, mask = pipe._encode_prompts(PROMPTS)
    out = pipe.generate_tokens(ids, mask, max_new_tokens=MAX_NEW, eos_token_id=[], **options)
    return [[(g.token_ids, g.score) for g in hyps] for hyps in out], len(calls)


@pytest.mark.parametrize("options", [dict(), dict(with_scores=True), dict(num_beams=3, num_return_sequences=2),
                                     dict(do_sample=True, seed=3, top_p=0.9), dict(repetition_penalty=1.4)])
@pytest.mark.parametrize("which, backbone_class", [("gpt", GPT), ("t5", T5)])
def test_same_tokens_and_scores_as_the_modules(request, monkeypatch, which, backbone_class, options):
    pipe = request.getfixturevalue(which)
    fast, steps = generate(pipe, monkeypatch, backbone_class, True, **options)
    slow, none = generate(pipe, monkeypatch, backbone_class, False, **options)
    # every token fed back (the last new one is not); the prompt (T5: the start token, whose step fills the
    # cross-attention cache) goes through the modules
    assert steps == MAX_NEW - 1 and none == 0
    assert fast == slow


@pytest.mark.parametrize("which, hooked", [("gpt", "backbone"), ("t5", "backbone.decoder"),
                                           ("gpt", "backbone.final_norm"), ("t5", "backbone.decoder.layers.0.ffn")])
def test_a_forward_hook_runs_at_every_step(request, which, hooked):
    """A hook would be skipped by the steps without module calls: generation keeps the modules then."""
    pipe = request.getfixturevalue(which)
    calls = []
    handle = pipe.model.get_submodule(hooked).register_forward_hook(lambda *args: calls.append(1))
    try:
        ids, mask = pipe._encode_prompts(PROMPTS[:1])
        pipe.generate_tokens(ids, mask, max_new_tokens=MAX_NEW, eos_token_id=[])
    finally:
        handle.remove()
    assert len(calls) == MAX_NEW  # the prompt's (T5: the start token's) forward and one per token fed back


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("which, backbone_class", [("gpt", GPT), ("t5", T5)])
def test_same_tokens_and_scores_in_half_precision(monkeypatch, which, backbone_class, dtype):
    from tests.framework.inference.conftest import GPT as GPT_OVERRIDES, T5 as T5_OVERRIDES, make

    pipe = make(GPT_OVERRIDES if which == "gpt" else T5_OVERRIDES)
    pipe.model.to(dtype)
    fast, steps = generate(pipe, monkeypatch, backbone_class, True, with_scores=True)
    slow, _ = generate(pipe, monkeypatch, backbone_class, False, with_scores=True)
    assert steps == MAX_NEW - 1 and fast == slow


@pytest.mark.parametrize("which, backbone_class, method", [("gpt", GPT, "forward"), ("t5", T5, "decode")])
def test_a_subclass_keeps_its_own_forward(request, which, backbone_class, method):
    """A plugin's subclass may change what forward()/decode() computes: the steps would skip it."""
    backbone = request.getfixturevalue(which).model.backbone
    backbone.__class__ = type("Custom", (backbone_class,), {method: getattr(backbone_class, method)})
    try:
        assert backbone.decoding_step() is None
    finally:
        backbone.__class__ = backbone_class
    assert backbone.decoding_step() is not None
