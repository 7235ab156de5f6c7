"""GPT.decoding_step: the same hidden state as forward() (generation with it: tests/framework/inference/test_decoding_step.py)."""
import pytest
import torch

from tests.framework.inference.conftest import GPT as GPT_OVERRIDES, make

PROMPTS = ["The cat", "A much longer prompt about dogs", "x"]


@pytest.fixture(scope="module")
def pipe():
    return make(GPT_OVERRIDES)


def test_hidden_state_equals_forward(pipe):
    from framework.modules.kv_cache import StaticCache

    backbone = pipe.model.backbone
    ids, mask = pipe._encode_prompts(PROMPTS)  # left padded
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        caches = [StaticCache(ids.shape[1] + 1) for _ in range(2)]
        for cache in caches:
            backbone(ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True)
        token = torch.tensor([[5], [6], [7]])
        full = torch.cat([mask, torch.ones(3, 1, dtype=mask.dtype)], 1)
        nxt = positions[:, -1:] + 1
        expected = backbone(token, attention_mask=full, position_ids=nxt, past_key_values=caches[0],
                            use_cache=True).last_hidden_state
        got = backbone.decoding_step()(token, caches[1], full, nxt)
    assert torch.equal(got, expected)


def test_unpadded_hidden_state_equals_forward(pipe):
    """Batch 1 without a mask: the step takes the next position from the cache's length."""
    from framework.modules.kv_cache import StaticCache

    backbone = pipe.model.backbone
    ids, _ = pipe._encode_prompts(PROMPTS[:1])
    with torch.inference_mode():
        caches = [StaticCache(ids.shape[1] + 2) for _ in range(2)]
        for cache in caches:
            backbone(ids, past_key_values=cache, use_cache=True)
        step = backbone.decoding_step()
        for token in (5, 6):
            expected = backbone(torch.tensor([[token]]), past_key_values=caches[0], use_cache=True).last_hidden_state
            assert torch.equal(step(torch.tensor([[token]]), caches[1]), expected)


def test_training_mode_keeps_the_module_path(pipe):
    backbone = pipe.model.backbone
    backbone.train()
    try:
        assert backbone.decoding_step() is None
    finally:
        backbone.eval()
    assert backbone.decoding_step() is not None
