"""BERT parity with Hugging Face (BertModel and the BertFor* heads) through `import_hf` + `framework.load`."""
import pytest
import torch

import framework
from framework.hf import import_hf

transformers = pytest.importorskip("transformers")

VOCAB = 103
CONFIGS = {
    "gelu": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    "relu-eps-3types": dict(hidden_size=48, num_hidden_layers=3, num_attention_heads=3, intermediate_size=40,
                            hidden_act="relu", layer_norm_eps=1e-5, type_vocab_size=3),
    "gelu_new-1layer": dict(hidden_size=24, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24,
                            hidden_act="gelu_new", layer_norm_eps=1e-7),
    "untied-silu": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=8, intermediate_size=16,
                        hidden_act="silu", tie_word_embeddings=False),
}
HEADS = ["BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification",
         "BertForQuestionAnswering"]
# the backbone on every config, each head on one of them
CASES = [("BertModel", name) for name in CONFIGS] + [(arch, name) for arch, name in zip(HEADS, CONFIGS)]


def make(tmp_path, arch, **kw):
    torch.manual_seed(0)
    labels = 2 if arch == "BertForQuestionAnswering" else 5
    cfg = transformers.BertConfig(vocab_size=VOCAB, max_position_embeddings=24, num_labels=labels, **kw)
    hf = getattr(transformers, arch)(cfg).eval()
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    return hf, framework.load(tmp_path / "ours")


def batch(type_vocab=2):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (3, 10), generator=g)
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    types = torch.randint(0, type_vocab, (3, 10), generator=g)
    return ids, mask, types


@pytest.mark.parametrize("arch,name", CASES)
def test_hidden_states_and_logits_match(tmp_path, arch, name):
    hf, ours = make(tmp_path, arch, **CONFIGS[name])
    ids, mask, types = batch(CONFIGS[name].get("type_vocab_size", 2))
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        out = ours.model(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    assert len(out.hidden_states) == len(ref.hidden_states)
    for a, b in zip(out.hidden_states, ref.hidden_states):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    if arch == "BertModel":
        assert out.logits is None
        return
    logits = ref.logits if arch != "BertForQuestionAnswering" else torch.stack([ref.start_logits, ref.end_logits], -1)
    if arch == "BertForQuestionAnswering":  # our QA head also rules out padding as an answer boundary
        keep = mask.bool()
        torch.testing.assert_close(out.logits[keep], logits[keep], atol=1e-4, rtol=0)
        assert (out.logits[~keep] < -1e30).all()
    else:
        torch.testing.assert_close(out.logits, logits, atol=1e-4, rtol=0)
    if arch == "BertForMaskedLM":
        tied = CONFIGS[name].get("tie_word_embeddings", True)
        assert (ours.model.head.proj.weight is ours.model.backbone.get_input_embeddings().weight) == tied


def test_labels_and_heads_are_recorded(tmp_path):
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=16, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    transformers.BertForSequenceClassification(cfg).save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    p = framework.load(tmp_path / "ours")
    assert list(p.config.labels) == ["neg", "pos"]
    assert p.config.head.name == "sequence_classification" and p.config.head.pooler
    assert p.model.head.classifier.out_features == 2


def test_without_token_type_ids_defaults_to_segment_zero(tmp_path):
    hf, ours = make(tmp_path, "BertModel", **CONFIGS["gelu"])
    ids, mask, _ = batch()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).last_hidden_state
        out = ours.model(ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)
