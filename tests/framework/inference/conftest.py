"""Tiny random models wrapped in the inference API, built straight from configs (no checkpoint files)."""
from __future__ import annotations

import contextlib

import pytest
import torch
from omegaconf import OmegaConf

from framework.config import load
from framework.inference.api import InferenceMixin
from framework.model import build_model
from framework.tokenizers.build import build_tokenizer


class Loaded(InferenceMixin):
    def __init__(self, model, tokenizer, config):
        self.model, self.tokenizer, self.config = model.eval(), tokenizer, config


def make(overrides: list[str], seed: int = 0, labels=None, wide: bool = True) -> Loaded:
    cfg = load(overrides)
    if labels is not None:
        cfg = OmegaConf.merge(cfg, {"labels": labels})
    tok = build_tokenizer(cfg.tokenizer)
    cfg.model.vocab_size = tok.vocab_size  # a checkpoint records its vocabulary size
    torch.manual_seed(seed)
    model = build_model(cfg, vocab_size=tok.vocab_size, init=False)  # the weights are set below
    with torch.no_grad() if wide else contextlib.nullcontext():  # wide random weights: varied continuations instead of one token repeated
        for p in model.parameters():
            if wide and p.dim() >= 2:
                p.normal_(0.0, 0.3)
    return Loaded(model, tok, cfg)


GPT = ["model=gpt_tiny", "model.n_layer=2", "model.n_embd=64", "model.n_head=4", "tokenizer=byte"]
T5 = ["model=t5_tiny", "model.d_model=64", "model.d_kv=16", "model.d_ff=128", "objective=seq2seq",
      "tokenizer=byte", "tokenizer.template=eos"]


@pytest.fixture(scope="module")
def gpt():
    return make(GPT)


@pytest.fixture(scope="module")
def t5():
    return make(T5)


@pytest.fixture(autouse=True)
def _few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
