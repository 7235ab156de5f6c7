"""Hugging Face dropout fields map onto `dropout` / `attention_dropout` on import and back on export."""
import json

import pytest
import torch
from omegaconf import OmegaConf

from framework.hf import export_hf, import_hf

transformers = pytest.importorskip("transformers")

SMALL = {
    "bert": (transformers.BertConfig, transformers.BertForMaskedLM,
             dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=16)),
    "gpt2": (transformers.GPT2Config, transformers.GPT2LMHeadModel,
             dict(n_positions=16, n_embd=16, n_layer=1, n_head=2)),
    "t5": (transformers.T5Config, transformers.T5ForConditionalGeneration,
           dict(d_model=16, d_kv=4, d_ff=24, num_layers=1, num_heads=4)),
}
CASES = [  # family, HF dropout fields, (dropout, attention_dropout), HF fields written back on export
    ("bert", {"hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.2}, (0.3, 0.2),
     {"hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.2}),
    ("gpt2", {"resid_pdrop": 0.3, "embd_pdrop": 0.3, "attn_pdrop": 0.2}, (0.3, 0.2),
     {"resid_pdrop": 0.3, "embd_pdrop": 0.3, "attn_pdrop": 0.2}),
    ("gpt2", {"resid_pdrop": 0.3, "embd_pdrop": 0.05, "attn_pdrop": 0.2}, (0.3, 0.2),  # resid_pdrop wins
     {"resid_pdrop": 0.3, "embd_pdrop": 0.3, "attn_pdrop": 0.2}),
    ("t5", {"dropout_rate": 0.3}, (0.3, 0.3), {"dropout_rate": 0.3}),
]


@pytest.mark.parametrize("family, hf_fields, ours, written", CASES)
def test_dropout_fields_round_trip(tmp_path, family, hf_fields, ours, written):
    config_cls, model_cls, shape = SMALL[family]
    torch.manual_seed(0)
    model_cls(config_cls(vocab_size=40, **shape, **hf_fields)).save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    node = OmegaConf.load(tmp_path / "ours" / "config.yaml").model  # as written, not upgraded on read
    assert (node.dropout, node.attention_dropout) == ours
    assert not set(hf_fields) & set(node.keys())
    export_hf(tmp_path / "ours", tmp_path / "exported")
    config = json.loads((tmp_path / "exported" / "config.json").read_text())
    assert {k: config[k] for k in written} == written
    reloaded = config_cls.from_pretrained(tmp_path / "exported")
    assert all(getattr(reloaded, k) == v for k, v in written.items())
