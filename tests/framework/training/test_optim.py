import math

import pytest
import torch
from omegaconf import OmegaConf

from framework.errors import ConfigError
from framework.schema import OptimConfig
from framework.training.optim import build_optimizer, build_scheduler, lr_lambda


def optim(**kw):
    return OmegaConf.merge(OmegaConf.structured(OptimConfig), kw)


def test_warmup_then_linear_and_cosine_decay():
    linear = lr_lambda(110, 10, "linear")
    assert linear(0) == pytest.approx(1 / 11) and linear(9) == pytest.approx(10 / 11)
    assert linear(10) == 1.0 and linear(60) == pytest.approx(0.5) and linear(110) == 0.0
    cosine = lr_lambda(110, 10, "cosine", min_ratio=0.1)
    assert cosine(60) == pytest.approx(0.1 + 0.9 * 0.5) and cosine(110) == pytest.approx(0.1)
    assert lr_lambda(100, 0, "constant")(99) == 1.0
    with pytest.raises(ConfigError, match="cosine"):
        lr_lambda(10, 0, "cosin")


def test_optimizers_and_decay_groups():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    opt = build_optimizer(model, optim(name="adamw", lr=0.1, weight_decay=0.5))
    assert isinstance(opt, torch.optim.AdamW)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.5 and [p.shape for p in decay["params"]] == [(4, 4)]
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3  # biases and the norm scale
    assert isinstance(build_optimizer(model, optim(name="sgd")), torch.optim.SGD)
    assert isinstance(build_optimizer(model, optim(name="adafactor")), torch.optim.Adafactor)
    with pytest.raises(ConfigError, match="adamw"):
        build_optimizer(model, optim(name="adamww"))


def test_scheduler_uses_warmup_ratio():
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, optim(lr=1.0, warmup_ratio=0.1))
    sched = build_scheduler(opt, optim(lr=1.0, warmup_ratio=0.1, scheduler="linear"), total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1 / 11) and max(lrs) == pytest.approx(1.0) and lrs.index(1.0) == 10
    assert lrs[-1] == pytest.approx(1 / 90)
    assert not any(math.isnan(x) for x in lrs)


def test_freeze_by_name_prefix():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
    opt = build_optimizer(model, optim(freeze=["0."]))
    assert not model[0].weight.requires_grad and model[1].weight.requires_grad
    assert sum(len(g["params"]) for g in opt.param_groups) == 2
    with pytest.raises(ConfigError, match="no parameter name starts with 'backbone'"):
        build_optimizer(model, optim(freeze=["backbone"]))
