"""T5 parity with Hugging Face (original and v1.1, tied and untied) through `import_hf` + `framework.load`."""
import pytest
import torch

import framework
from framework.hf import import_hf

transformers = pytest.importorskip("transformers")

VOCAB = 107
CONFIGS = {
    "original-relu-tied": dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, feed_forward_proj="relu"),
    "v1_1-gated-gelu-untied": dict(d_model=32, d_kv=6, d_ff=40, num_layers=2, num_decoder_layers=3, num_heads=3,
                                   feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                                   relative_attention_num_buckets=16, relative_attention_max_distance=10),
    "gated-silu-eps-buckets": dict(d_model=24, d_kv=12, d_ff=32, num_layers=1, num_heads=2,
                                   feed_forward_proj="gated-silu", layer_norm_epsilon=1e-3,
                                   relative_attention_num_buckets=8, relative_attention_max_distance=6),
}


def make(tmp_path, **kw):
    torch.manual_seed(0)
    hf = transformers.T5ForConditionalGeneration(transformers.T5Config(vocab_size=VOCAB, **kw)).eval()
    if kw.get("tie_word_embeddings") is False:  # transformers 5 ties on construction; give v1.1 its own head
        hf.lm_head.weight = torch.nn.Parameter(torch.randn(VOCAB, kw["d_model"]))
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    return hf, framework.load(tmp_path / "ours")


def batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (3, 12), generator=g)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 8:] = 0
    mask[2, 4:] = 0
    dec = torch.randint(0, VOCAB, (3, 7), generator=g)
    dec_mask = torch.ones(3, 7, dtype=torch.long)
    dec_mask[0, 5:] = 0
    return ids, mask, dec, dec_mask


@pytest.mark.parametrize("name", CONFIGS)
def test_encoder_decoder_logits_and_hidden_states_match(tmp_path, name):
    hf, ours = make(tmp_path, **CONFIGS[name])
    ids, mask, dec, dec_mask = batch()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask,
                 output_hidden_states=True)
        out = ours.model(ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask,
                         output_hidden_states=True)
    torch.testing.assert_close(out.encoder_last_hidden_state, ref.encoder_last_hidden_state, atol=1e-4, rtol=0)
    assert len(out.encoder_hidden_states) == len(ref.encoder_hidden_states)
    for a, b in zip(out.encoder_hidden_states, ref.encoder_hidden_states):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert len(out.hidden_states) == len(ref.decoder_hidden_states)
    for a, b in zip(out.hidden_states, ref.decoder_hidden_states):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-4, rtol=1e-5)
    tied = CONFIGS[name].get("tie_word_embeddings", True)
    assert ours.config.head.tie_word_embeddings == tied and ours.config.head.rescale == tied


def test_decoder_on_given_encoder_outputs(tmp_path):
    hf, ours = make(tmp_path, **CONFIGS["v1_1-gated-gelu-untied"])
    ids, mask, dec, dec_mask = batch()
    with torch.no_grad():
        enc_ref = hf.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        enc = ours.model.encode(ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(enc, enc_ref, atol=1e-4, rtol=0)
        memory = torch.randn_like(enc)  # any encoder output, not just our own
        ref = hf.decoder(input_ids=dec, encoder_hidden_states=memory, encoder_attention_mask=mask).last_hidden_state
        out = ours.model.decode(dec, memory, encoder_attention_mask=mask)
    torch.testing.assert_close(out.last_hidden_state, ref, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.logits, hf.lm_head(ref), atol=1e-4, rtol=1e-5)
    full = torch.ones_like(mask)  # no padding: no mask is built at all
    with torch.no_grad():
        ref = hf.decoder(input_ids=dec, encoder_hidden_states=memory, encoder_attention_mask=full).last_hidden_state
        out = ours.model.decode(dec, memory, encoder_attention_mask=full)
    torch.testing.assert_close(out.last_hidden_state, ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["original-relu-tied", "v1_1-gated-gelu-untied"])
def test_incremental_decoding_with_cache_equals_full_forward(tmp_path, name):
    hf, ours = make(tmp_path, **CONFIGS[name])
    ids, mask, dec, _ = batch()
    with torch.no_grad():
        full = ours.model(ids, attention_mask=mask, decoder_input_ids=dec).logits
        enc = ours.model.encode(ids, attention_mask=mask).last_hidden_state
        out = ours.model.decode(dec[:, :3], enc, encoder_attention_mask=mask, use_cache=True)
        steps = [out.logits]
        for t in range(3, dec.shape[1]):
            out = ours.model.decode(dec[:, t:t + 1], enc, encoder_attention_mask=mask,
                                    past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-4, rtol=1e-5)
    assert len(out.past_key_values[0]) == 4  # self k, v and cross k, v


def test_t5_model_without_head(tmp_path):
    torch.manual_seed(0)
    hf = transformers.T5Model(transformers.T5Config(vocab_size=VOCAB, **CONFIGS["original-relu-tied"])).eval()
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    ours = framework.load(tmp_path / "ours")
    ids, mask, dec, dec_mask = batch()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
        out = ours.model(ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
    assert out.logits is None
    torch.testing.assert_close(out.last_hidden_state, ref.last_hidden_state, atol=1e-4, rtol=0)
