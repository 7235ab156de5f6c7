"""GPT-2 parity with Hugging Face: random transformers models, imported through `import_hf`, loaded with
`framework.load`."""
import inspect

import pytest
import torch

import framework
from framework.hf import import_hf

transformers = pytest.importorskip("transformers")

VOCAB = 101
CONFIGS = {
    "small-gelu_new": dict(n_embd=32, n_layer=2, n_head=4),
    "gelu-eps-n_inner": dict(n_embd=48, n_layer=3, n_head=6, activation_function="gelu", layer_norm_epsilon=1e-3,
                             n_inner=40),
    "relu-untied-inverse-layer-scale": dict(n_embd=32, n_layer=2, n_head=2, activation_function="relu",
                                            scale_attn_by_inverse_layer_idx=True, tie_word_embeddings=False),
    "unscaled-quick_gelu": dict(n_embd=24, n_layer=1, n_head=3, scale_attn_weights=False,
                                activation_function="quick_gelu"),
}


def make(tmp_path, **kw):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_positions=40, bos_token_id=0, eos_token_id=0, **kw)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    return hf, framework.load(tmp_path / "ours")


def batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (3, 11), generator=g)
    mask = torch.ones(3, 11, dtype=torch.long)
    mask[1, 7:] = 0  # right padding
    mask[2, :4] = 0  # left padding (fully masked rows at the start)
    return ids, mask


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_and_hidden_states_match(tmp_path, name):
    hf, ours = make(tmp_path, **CONFIGS[name])
    ids, mask = batch()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        out = ours.model(ids, attention_mask=mask, output_hidden_states=True)
    assert len(out.hidden_states) == len(ref.hidden_states)
    for a, b in zip(out.hidden_states, ref.hidden_states):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-4, rtol=0)
    tied = CONFIGS[name].get("tie_word_embeddings", True)
    assert (ours.model.head.proj.weight is ours.model.backbone.get_input_embeddings().weight) == tied


def test_incremental_decoding_with_cache_equals_full_forward(tmp_path):
    hf, ours = make(tmp_path, **CONFIGS["small-gelu_new"])
    ids, mask = batch()
    with torch.no_grad():
        full = ours.model(ids, attention_mask=mask).logits
        out = ours.model(ids[:, :5], attention_mask=mask[:, :5], use_cache=True)
        steps = [out.logits]
        for t in range(5, ids.shape[1]):
            out = ours.model(ids[:, t:t + 1], attention_mask=mask[:, :t + 1], past_key_values=out.past_key_values,
                             use_cache=True)
            steps.append(out.logits)
        # and the reference's own cache agrees
        ref = hf(input_ids=ids[:, :5], attention_mask=mask[:, :5], use_cache=True)
        cache = getattr(ref, "cache", None) or ref.past_key_values
        key = "cache" if "cache" in inspect.signature(hf.forward).parameters else "past_key_values"  # renamed in 5.x
        ref = hf(input_ids=ids[:, 5:6], attention_mask=mask[:, :6], **{key: cache})
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-4, rtol=0)
    torch.testing.assert_close(steps[1], ref.logits, atol=1e-4, rtol=0)
    assert len(out.past_key_values) == 2 and out.past_key_values[0][0].shape == (3, 4, 11, 8)


def test_position_ids_for_left_padded_prompts(tmp_path):
    hf, ours = make(tmp_path, **CONFIGS["small-gelu_new"])
    ids, mask = batch()
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        out = ours.model(ids, attention_mask=mask, position_ids=positions).logits
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)


def test_gpt2_model_without_head(tmp_path):
    torch.manual_seed(0)
    hf = transformers.GPT2Model(transformers.GPT2Config(vocab_size=VOCAB, n_positions=40, n_embd=32, n_layer=2,
                                                        n_head=4, bos_token_id=0, eos_token_id=0)).eval()
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    ours = framework.load(tmp_path / "ours")
    ids, mask = batch()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).last_hidden_state
        out = ours.model(ids, attention_mask=mask)
    assert out.logits is None and "head" not in ours.config
    torch.testing.assert_close(out.last_hidden_state, ref, atol=1e-4, rtol=0)
