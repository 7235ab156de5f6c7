"""Checkpoints whose config.yaml still uses Hugging Face's dropout names (written before the rename) load,
and fine-tuning from a checkpoint takes the run's dropouts."""
import pytest
import torch
from omegaconf import OmegaConf

from framework.checkpoint import load_checkpoint, read_config, save_checkpoint
from framework.model import build_model
from framework.training.build import adopt_checkpoint_config

MODELS = {
    "gpt": ({"n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2},
            {"resid_pdrop": 0.3, "embd_pdrop": 0.05, "attn_pdrop": 0.2}, (0.3, 0.2)),
    "bert": ({"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
              "max_position_embeddings": 16},
             {"hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.2}, (0.3, 0.2)),
    "t5": ({"d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_heads": 2},
           {"dropout_rate": 0.3}, (0.3, 0.3)),
}


def _old_checkpoint(path, name):
    shape, old_names, _ = MODELS[name]
    cfg = OmegaConf.create({"model": {"name": name, "vocab_size": 40, **shape}, "head": {"name": "lm"}})
    torch.manual_seed(0)
    save_checkpoint(path, build_model(cfg), cfg)
    saved = OmegaConf.load(path / "config.yaml")
    for key in ("dropout", "attention_dropout"):
        saved.model.pop(key, None)
    saved.model.update(old_names)
    OmegaConf.save(saved, path / "config.yaml")
    return path


@pytest.mark.parametrize("name", MODELS)
def test_old_dropout_names_are_read_as_the_new_ones(tmp_path, name):
    ckpt = _old_checkpoint(tmp_path / "ckpt", name)
    dropout, attention = MODELS[name][2]
    cfg = read_config(ckpt)
    assert (cfg.model.dropout, cfg.model.attention_dropout) == (dropout, attention)
    assert not set(MODELS[name][1]) & set(cfg.model.keys())
    model, loaded = load_checkpoint(ckpt)
    assert loaded.model.dropout == dropout


def test_init_from_keeps_the_runs_dropouts_and_the_checkpoints_architecture(tmp_path):
    ckpt = _old_checkpoint(tmp_path / "ckpt", "bert")
    run = OmegaConf.create({"model": {"name": "bert", "hidden_size": 128, "dropout": 0.25,
                                      "attention_dropout": 0.0}, "head": {"name": "lm"}})
    cfg, _ = adopt_checkpoint_config(run, ckpt)
    assert cfg.model.hidden_size == 16
    assert (cfg.model.dropout, cfg.model.attention_dropout) == (0.25, 0.0)
    again, _ = adopt_checkpoint_config(cfg, ckpt)  # `nlpf train` adopts twice (run dir, then build)
    assert again.model == cfg.model
    bare, _ = adopt_checkpoint_config(OmegaConf.create({"model": {"name": "gpt"}}), ckpt)
    assert (bare.model.dropout, bare.model.attention_dropout) == (0.3, 0.2)  # nothing set: the checkpoint's
