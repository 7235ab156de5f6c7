"""Checkpoint directories: atomic writes, tied weights, and clear errors for anything that is not one."""
import os

import pytest
import torch
from omegaconf import OmegaConf

import framework
from framework.checkpoint import load_checkpoint, save_checkpoint
from framework.errors import ConfigError, NlpfError
from framework.model import build_model

CFG = {
    "model": {"name": "gpt", "vocab_size": 50, "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2},
    "head": {"name": "lm"},
}


def tiny(cfg=CFG):
    torch.manual_seed(0)
    return build_model(OmegaConf.create(cfg)).eval(), OmegaConf.create(cfg)


def test_save_load_round_trip_and_replace(tmp_path):
    model, cfg = tiny()
    save_checkpoint(tmp_path / "ckpt", model, cfg, meta={"step": 7})
    loaded, loaded_cfg = load_checkpoint(tmp_path / "ckpt")
    assert loaded_cfg.model.n_embd == 16
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert loaded.head.proj.weight is loaded.backbone.get_input_embeddings().weight  # tie survives loading
    with torch.no_grad():
        model.backbone.final_norm.weight.fill_(2.0)
    save_checkpoint(tmp_path / "ckpt", model, cfg)  # overwrite in place
    again, _ = load_checkpoint(tmp_path / "ckpt")
    assert torch.equal(again.backbone.final_norm.weight, torch.full((16,), 2.0))
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no temporary directories left behind


def test_failed_save_leaves_previous_checkpoint(tmp_path, monkeypatch):
    model, cfg = tiny()
    save_checkpoint(tmp_path / "ckpt", model, cfg)
    before = (tmp_path / "ckpt" / "model.safetensors").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("framework.atomic.fsync_tree", boom)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "ckpt", model, cfg)
    assert (tmp_path / "ckpt" / "model.safetensors").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_framework_load_gives_model_config_and_no_tokenizer(tmp_path):
    model, cfg = tiny()
    save_checkpoint(tmp_path / "ckpt", model, cfg)
    p = framework.load(str(tmp_path / "ckpt"))
    assert not p.model.training and p.tokenizer is None and p.config.model.name == "gpt"
    out = p.model(torch.tensor([[1, 2, 3]]), output_hidden_states=True)
    assert out.logits.shape == (1, 3, 50) and len(out.hidden_states) == 2


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(NlpfError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "hfdir").mkdir()
    (tmp_path / "hfdir" / "config.json").write_text("{}")
    with pytest.raises(NlpfError, match="not an nlpf checkpoint") as err:
        load_checkpoint(tmp_path / "hfdir")
    assert "nlpf import hf" in err.value.hint


def test_truncated_weights(tmp_path):
    model, cfg = tiny()
    save_checkpoint(tmp_path / "ckpt", model, cfg)
    path = tmp_path / "ckpt" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(NlpfError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "ckpt")


def test_weights_that_do_not_match_the_config(tmp_path):
    model, cfg = tiny()
    save_checkpoint(tmp_path / "ckpt", model, cfg)
    text = (tmp_path / "ckpt" / "config.yaml").read_text()
    (tmp_path / "ckpt" / "config.yaml").write_text(text.replace("n_layer: 1", "n_layer: 2"))
    with pytest.raises(NlpfError, match="missing: backbone.layers.1"):
        load_checkpoint(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "config.yaml").write_text(text.replace("n_embd: 16", "n_embd: 8"))
    with pytest.raises(NlpfError, match="shape mismatch"):
        load_checkpoint(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "config.yaml").write_text(text.replace("n_head: 2", "n_heads: 2"))
    with pytest.raises(ConfigError, match="n_heads"):
        load_checkpoint(tmp_path / "ckpt")


def test_refuses_to_replace_a_directory_that_is_not_a_checkpoint(tmp_path):
    model, cfg = tiny()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("precious")
    with pytest.raises(NlpfError, match="notes.txt"):
        save_checkpoint(tmp_path / "home", model, cfg)
    assert (tmp_path / "home" / "notes.txt").read_text() == "precious"
    (tmp_path / "empty").mkdir()
    save_checkpoint(tmp_path / "empty", model, cfg)  # an empty directory is fine
    assert (tmp_path / "empty" / "model.safetensors").is_file()


def test_a_run_directory_loads_its_best_checkpoint_else_its_last(tmp_path):
    model, cfg = tiny()
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoints" / "last", model, cfg)
    assert framework.load(run).path == run / "checkpoints" / "last"
    with torch.no_grad():
        model.backbone.final_norm.weight.fill_(3.0)
    save_checkpoint(run / "checkpoints" / "best", model, cfg)
    pipe = framework.load(run)
    assert pipe.path == run / "checkpoints" / "best"
    assert torch.equal(pipe.model.backbone.final_norm.weight, torch.full((16,), 3.0))


def _needs_plugin(tmp_path, components: list | None, plugins: list):
    import json

    model, cfg = tiny()
    save_checkpoint(tmp_path / "ckpt", model, cfg)
    meta = json.loads((tmp_path / "ckpt" / "meta.json").read_text())
    assert {"registry": "architecture", "name": "gpt", "distribution": "nlpf", "version": framework.__version__,
            "plugin": "gpt"} in meta["components"]
    meta["plugins"] += plugins
    if components is None:
        del meta["components"]
    else:
        meta["components"] = components
    (tmp_path / "ckpt" / "meta.json").write_text(json.dumps(meta))
    cfg.model.name = "rev_bigru"  # as if a plugin that is not installed here had built it
    (tmp_path / "ckpt" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    with pytest.raises(NlpfError) as err:
        load_checkpoint(tmp_path / "ckpt")
    return err.value


def test_a_checkpoint_names_the_plugin_it_needs(tmp_path):
    err = _needs_plugin(tmp_path, [{"registry": "architecture", "name": "rev_bigru", "distribution": "nlpf-revkit",
                                    "version": "0.2.0", "plugin": "revkit"}], [])
    assert "needs architecture 'rev_bigru' from nlpf-revkit 0.2.0, which is not installed" in str(err)
    assert "pip install 'nlpf-revkit==0.2.0'" in err.hint and "Did you mean" not in str(err)


def test_an_older_checkpoint_names_the_plugins_that_are_missing(tmp_path):
    err = _needs_plugin(tmp_path, None, [{"name": "revkit", "distribution": "nlpf-revkit", "version": "0.1.0",
                                          "status": "ok"}])
    assert "no loaded plugin registers" in str(err) and "nlpf-revkit" in err.hint


def test_a_path_that_is_no_checkpoint_directory_says_what_it_is(tmp_path):
    from framework.checkpoint import read_config

    run = tmp_path / "run"
    (run / "checkpoints" / "lightning").mkdir(parents=True)
    (run / "checkpoints" / "lightning" / "last.ckpt").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    cases = {run / "checkpoints" / "lightning" / "last.ckpt": "is Lightning's training state (for resume=)",
             tmp_path / "notes.txt": "is a file, not a checkpoint directory",
             tmp_path / "missing": "does not exist"}
    for path, says in cases.items():
        with pytest.raises(NlpfError) as err:
            read_config(path)
        assert says in str(err.value), str(err.value)
    with pytest.raises(NlpfError) as err:
        read_config(run / "checkpoints" / "lightning" / "last.ckpt")
    assert f"pass its run directory ({run})" in err.value.hint
    (run / "checkpoints" / "last").mkdir()  # a run that ended before its first validation: last but no best
    (run / "checkpoints" / "last" / "model.safetensors").write_bytes(b"x")
    with pytest.raises(NlpfError, match="does not exist") as err:
        read_config(run / "checkpoints" / "best")
    assert f"pass {run / 'checkpoints' / 'last'} or the run directory {run}" in err.value.hint


def test_a_plugin_data_source_is_not_needed_to_load_a_checkpoint(tmp_path):
    import json

    model, cfg = tiny()
    save_checkpoint(tmp_path / "ckpt", model, cfg)
    meta = json.loads((tmp_path / "ckpt" / "meta.json").read_text())
    meta["components"].append({"registry": "data", "name": "gone_reviews", "distribution": "nlpf-gone",
                               "version": "1.0", "plugin": "gone"})
    (tmp_path / "ckpt" / "meta.json").write_text(json.dumps(meta))
    cfg.data = {"name": "gone_reviews"}  # trained on a plugin's data, which inference never reads
    (tmp_path / "ckpt" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    assert load_checkpoint(tmp_path / "ckpt")[1].data.name == "gone_reviews"
