"""`build_model` through the registries and the TaskModel forward contract for each architecture kind."""
from dataclasses import dataclass

import pytest
import torch
from omegaconf import OmegaConf

from framework.config import load
from framework.errors import ConfigError
from framework.model import build_model

PRESETS = [("gpt_tiny", "lm"), ("bert_tiny", "bert_mlm"), ("t5_tiny", "t5_lm")]


@pytest.mark.parametrize("model,head", PRESETS)
def test_tiny_presets_build_and_run(model, head):
    cfg = load([f"model={model}", f"head={head}", "~objective", "~data"], components=("model", "head"))
    assert cfg.model.vocab_size is None
    torch.manual_seed(0)
    m = build_model(cfg, vocab_size=300).eval()
    ids = torch.randint(0, 300, (2, 6))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    dec = ids[:, :3] if m.kind == "encoder-decoder" else None
    out = m(ids, attention_mask=mask, decoder_input_ids=dec, output_hidden_states=True)
    assert out.logits.shape == (2, 3 if dec is not None else 6, 300)
    out.logits.sum().backward()  # trainable end to end
    assert m.backbone.get_input_embeddings().weight.grad is not None


def test_vocab_size_rules():
    cfg = OmegaConf.create({"model": {"name": "gpt", "vocab_size": None, "n_embd": 16, "n_layer": 1, "n_head": 2,
                                      "n_positions": 8}})
    with pytest.raises(ConfigError, match="vocab_size is null"):
        build_model(cfg)
    cfg.model.vocab_size = 10
    with pytest.raises(ConfigError, match="tokenizer has 20 tokens"):
        build_model(cfg, vocab_size=20)
    assert build_model(cfg, vocab_size=8).backbone.vocab_size == 10
    assert build_model(cfg).head is None


def test_classification_head_gets_num_labels_from_labels():
    cfg = OmegaConf.create({
        "model": {"name": "bert", "vocab_size": 30, "hidden_size": 16, "num_hidden_layers": 1,
                  "num_attention_heads": 2, "intermediate_size": 16},
        "head": {"name": "sequence_classification", "pooling": "cls", "dropout": 0.0, "pooler": True,
                 "num_labels": None},
        "labels": ["a", "b", "c"],
    })
    m = build_model(cfg)
    assert m(torch.tensor([[1, 2, 3]])).logits.shape == (1, 3)


def test_published_presets_compose():
    sizes = {}
    for preset in ("gpt2", "gpt2_medium", "gpt2_large", "gpt2_xl", "bert_base", "bert_large", "t5_small",
                   "t5_base", "t5_large", "t5_v1_1_small", "t5_v1_1_base"):
        cfg = load([f"model={preset}", "~head", "~objective", "~data"], components=("model",))
        sizes[preset] = cfg.model
    assert sizes["gpt2_xl"].n_embd == 1600 and sizes["bert_large"].num_hidden_layers == 24
    assert sizes["t5_v1_1_small"].feed_forward_proj == "gated-gelu"


def test_gpt2_preset_has_124m_parameters():
    cfg = load(["model=gpt2", "~objective", "~data"], components=("model", "head"))
    with torch.device("meta"):
        m = build_model(cfg, vocab_size=50257)
    n = sum(p.numel() for p in m.parameters())  # tied head counted once
    assert 124_000_000 < n < 124_700_000


def test_what_a_plugin_builder_returns_is_checked():
    import types

    from torch import nn

    from framework import plugins
    from framework.modules import BackboneOutput

    @dataclass
    class C:
        vocab_size: int = 8
        hidden_size: int = 4

    class Tuple(nn.Module):
        kind, hidden_size = "encoder", 4

        def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False):
            return (input_ids.float(),)

    class Decoder(Tuple):
        kind = "decoder"

    def register(registries):
        registries.architecture.register("gives_dict", C, lambda cfg: {"kind": "encoder"}, kind="encoder")
        registries.architecture.register("gives_tuple", C, lambda cfg: Tuple(), kind="encoder")
        registries.architecture.register("wrong_kind", C, lambda cfg: Decoder(), kind="encoder")

    state = plugins.load_plugins(extra={"builders": types.SimpleNamespace(nlpf_register=register)})
    previous, plugins._STATE = plugins._STATE, state
    try:
        with pytest.raises(ConfigError, match=r"architecture 'gives_dict' from .*returned dict, not a torch.nn.Module"):
            build_model(OmegaConf.create({"model": {"name": "gives_dict"}}))
        with pytest.raises(ConfigError, match=r"kind is 'decoder', but it was registered as 'encoder'"):
            build_model(OmegaConf.create({"model": {"name": "wrong_kind"}}))
        model = build_model(OmegaConf.create({"model": {"name": "gives_tuple"}}))
        with pytest.raises(ConfigError, match=r"Tuple.forward returned tuple; an architecture returns .*BackboneOutput"):
            model(torch.zeros(1, 3, dtype=torch.long))
        assert BackboneOutput  # the type the message names
    finally:
        plugins._STATE = previous


def test_build_model_initialises_for_training_unless_weights_follow():
    cfg = OmegaConf.create({"model": {"name": "gpt", "vocab_size": 300, "n_positions": 16, "n_embd": 64,
                                      "n_layer": 1, "n_head": 2}, "head": {"name": "lm"}})
    fresh = build_model(cfg).backbone.get_input_embeddings().weight
    assert abs(float(fresh.std()) - 0.02) < 0.003  # GPT-2's scheme, as training from scratch uses
    raw = build_model(cfg, init=False).backbone.get_input_embeddings().weight
    assert float(raw.std()) > 0.5  # torch's nn.Embedding default, N(0, 1): for weights loaded right after
