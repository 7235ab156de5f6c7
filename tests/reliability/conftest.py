"""Shared fixtures of the reliability tests: an isolated working directory and a tiny checkpoint built without
training (a 1-layer GPT on the byte tokenizer)."""
import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, tmp_path_factory):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path_factory.getbasetemp() / "nlpf_cache"))
    for key in ("NLPF_RUN_DIR", "NLPF_RESUME_CKPT", "LOCAL_RANK", "NODE_RANK", "HYDRA_FULL_ERROR"):
        monkeypatch.delenv(key, raising=False)
    yield
    for key in ("NLPF_RUN_DIR", "NLPF_RESUME_CKPT"):
        os.environ.pop(key, None)


TINY_MODEL = [  # the same in test_bad_inputs.py
    "model.n_layer=1", "model.n_embd=32", "model.n_head=2", "model.n_positions=64", "max_length=32"]


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A complete nlpf checkpoint directory (weights, config, tokenizer, meta)."""
    from framework import config, plugins
    from framework.checkpoint import save_checkpoint
    from framework.model import build_model
    from framework.tokenizers import build_tokenizer

    plugins.reset()
    cfg = config.load(TINY_MODEL)
    tokenizer = build_tokenizer(cfg.tokenizer)
    cfg.model.vocab_size = int(tokenizer.vocab_size)
    model = build_model(cfg)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", model, cfg, tokenizer, meta={"step": 0})


@pytest.fixture
def ckpt_copy(tiny_ckpt, tmp_path_factory) -> Path:
    """A private copy of the tiny checkpoint, for tests that damage it."""
    target = tmp_path_factory.mktemp("ckpt_copy") / "tiny"
    shutil.copytree(tiny_ckpt, target)
    return target
