"""Weights of a model trained from scratch. A backbone with its own `init_weights()` uses that; otherwise
the GPT-2/BERT scheme: normal(0, 0.02) for linear and embedding matrices, zero biases, unit norm scales."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def init_weights(model: nn.Module, std: float = 0.02) -> None:
    backbone = getattr(model, "backbone", model)
    own = set()
    if callable(getattr(backbone, "init_weights", None)):
        backbone.init_weights()
        targets = [m for name, m in model.named_children() if name != "backbone"]
        own = {id(p) for p in backbone.parameters()}  # a tied head shares them: keep the backbone's init
    else:
        targets = [model]
    for root in targets:
        for module in root.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)) and id(module.weight) not in own:
                module.weight.normal_(0.0, std)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    module.bias.zero_()
            elif "norm" in type(module).__name__.lower():
                for name, p in module.named_parameters(recurse=False):
                    (p.fill_(1.0) if name == "weight" else p.zero_())
