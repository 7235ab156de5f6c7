"""Optimizers and learning-rate schedules from `cfg.optim`."""
from __future__ import annotations

import math

import torch

from framework.errors import ConfigError, did_you_mean

OPTIMIZERS = ("adamw", "adam", "sgd", "adafactor")
SCHEDULERS = ("constant", "linear", "cosine")


# the name parts FSDP, checkpoint wrappers and torch.compile insert when they wrap a module
WRAPPER_PARTS = ("_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod")


def unwrapped_name(name: str) -> str:
    """A parameter's name as the unwrapped model has it: 'layers.0._fsdp_wrapped_module.attn.qkv.weight' ->
    'layers.0.attn.qkv.weight'."""
    return ".".join(part for part in name.split(".") if part not in WRAPPER_PARTS)


def decayed_names(model: torch.nn.Module) -> set[str]:
    """The names of the parameters weight decay applies to: matrices, not biases, norm scales (1-d tensors).
    Read from the model before FSDP wraps it: FSDP flattens every parameter it shards to 1-d."""
    return {unwrapped_name(n) for n, p in model.named_parameters() if p.dim() >= 2}


def parameter_groups(model: torch.nn.Module, weight_decay: float, decayed: set[str] | None = None) -> list[dict]:
    """Decay matrices only: biases, norms and embeddings' LayerNorm weights (1-d tensors) are not decayed.
    `decayed`: the names to decay (decayed_names of the unwrapped model), else read from `model` as it is."""
    decayed = decayed_names(model) if decayed is None else decayed
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if unwrapped_name(name) in decayed else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _fusable(model: torch.nn.Module) -> bool:
    params = [p for p in model.parameters() if p.requires_grad]
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def parameters_by_prefix(model: torch.nn.Module, prefixes, key: str, depth: int = 2) -> list[torch.nn.Parameter]:
    """The parameters whose names start with one of `prefixes`. A prefix that matches no name is an error naming
    the config key `key` and listing how the names start (their first `depth` parts)."""
    prefixes = [str(p) for p in prefixes or []]
    names = {unwrapped_name(n): p for n, p in model.named_parameters()}
    for prefix in prefixes:
        if not any(n.startswith(prefix) for n in names):
            tops = sorted({".".join(n.split(".")[:depth]) for n in names})
            raise ConfigError(f"{key}: no parameter name starts with '{prefix}'." + did_you_mean(prefix, tops),
                              hint=f"parameter names start with: {', '.join(tops[:12])}")
    return [p for n, p in names.items() if any(n.startswith(prefix) for prefix in prefixes)]


def freeze(model: torch.nn.Module, prefixes) -> int:
    """Stop training the parameters whose names start with one of `prefixes`; returns how many tensors."""
    chosen = parameters_by_prefix(model, prefixes, "optim.freeze")
    for p in chosen:
        p.requires_grad_(False)
    return len(chosen)


def build_optimizer(model: torch.nn.Module, optim, decayed: set[str] | None = None) -> torch.optim.Optimizer:
    """AdamW, Adam, SGD (with momentum) or Adafactor from `optim.name`, `optim.lr`, `optim.weight_decay`,
    `optim.betas`, `optim.eps`, `optim.momentum`; parameters named in `optim.freeze` stay fixed. `decayed`: as
    in parameter_groups."""
    freeze(model, optim.get("freeze"))
    name = str(optim.name).lower()
    groups = parameter_groups(model, float(optim.weight_decay), decayed)
    lr = float(optim.lr)
    if name in ("adamw", "adam"):
        cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        # the fused kernel updates all parameters in one pass (CPU and GPU): several times faster per step
        return cls(groups, lr=lr, betas=tuple(optim.betas), eps=float(optim.eps), fused=_fusable(model))
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(optim.momentum))
    if name == "adafactor":
        return torch.optim.Adafactor(groups, lr=lr, eps=(None, 1e-3))
    raise ConfigError(f"unknown optimizer optim.name='{optim.name}'." + did_you_mean(name, OPTIMIZERS),
                      hint=f"choose one of {', '.join(OPTIMIZERS)}")


def lr_lambda(total_steps: int, warmup_steps: int, schedule: str, min_ratio: float = 0.0):
    """Multiplier of the peak learning rate at each optimizer step: linear warmup, then constant,
    linear decay or cosine decay down to `min_ratio`."""
    if schedule not in SCHEDULERS:
        raise ConfigError(f"unknown optim.scheduler='{schedule}'." + did_you_mean(schedule, SCHEDULERS),
                          hint=f"choose one of {', '.join(SCHEDULERS)}")
    total_steps = max(total_steps, 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        if schedule == "constant":
            return 1.0
        progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
        decay = 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return min_ratio + (1.0 - min_ratio) * decay

    return factor


def build_scheduler(optimizer, optim, total_steps: int):
    warmup = int(optim.warmup_steps) or int(round(float(optim.warmup_ratio) * total_steps))
    fn = lr_lambda(total_steps, warmup, str(optim.scheduler), float(optim.min_lr_ratio))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
