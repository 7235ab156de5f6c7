"""LoRA fine-tuning (`lora.r` > 0): low-rank adapters on the backbone's chosen linear layers, the rest of the
backbone frozen, the head trained whole. Checkpoints hold the merged weights, so evaluate, predict, export and
init_from read them as any other model."""
from __future__ import annotations

import torch
from torch import nn

from framework.errors import ConfigError, did_you_mean
from framework.modules.lora import LoRALinear
from framework.training.optim import parameters_by_prefix


def _matches(name: str, target: str) -> bool:
    """'qkv' matches every linear named qkv; 'attn.out' matches '...layers.0.attn.out' but not 'cross_attn.out'."""
    parts, want = name.split("."), target.split(".")
    return parts[-len(want):] == want


def apply_lora(model: nn.Module, lora) -> tuple[int, int]:
    """Wrap the backbone's linear layers named in lora.targets and freeze every other backbone parameter except
    those under lora.trainable. Returns (trainable, total) parameter counts."""
    backbone = getattr(model, "backbone", model)
    linears = {n: m for n, m in backbone.named_modules() if type(m) is nn.Linear}
    targets = [str(t) for t in lora.targets]
    for target in targets:
        if not any(_matches(n, target) for n in linears):
            names = sorted({n.split(".")[-1] for n in linears} | {".".join(n.split(".")[-2:]) for n in linears})
            raise ConfigError(f"lora.targets: no linear layer of the backbone is named '{target}'."
                              + did_you_mean(target, names), hint=f"the backbone's linear layers: {', '.join(names)}")
    # full names, as optim.freeze, of the model as it is (an adapted layer's bias is LAYER.bias, not LAYER.base.bias)
    keep = list(parameters_by_prefix(model, lora.trainable, "lora.trainable", depth=3))
    backbone.requires_grad_(False)
    for name, linear in linears.items():
        if any(_matches(name, t) for t in targets):
            backbone.set_submodule(name, LoRALinear(linear, int(lora.r), float(lora.alpha)))
    for p in keep:
        p.requires_grad_(True)
    return parameter_counts(model)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(trained, total) numbers of parameters, tied weights counted once."""
    unique = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in unique if p.requires_grad), sum(p.numel() for p in unique)


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear in `model` by the plain linear layer it computes; returns `model`."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            model.set_submodule(name, module.merged())
    return model


def merged_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict `merge_lora` would leave, without copying the model: only the adapted layers' weights
    are new tensors (a checkpoint save should not double the weights' memory on a GPU)."""
    state = model.state_dict()
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            prefix = f"{name}." if name else ""
            for key in ("base.weight", "base.bias", "lora_a", "lora_b"):
                state.pop(prefix + key, None)
            with torch.no_grad():
                state[prefix + "weight"] = module.weight
            if module.bias is not None:
                state[prefix + "bias"] = module.bias.detach()
    return state


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The low-rank factors by the adapted layer's name: `NAME.lora_a` [r, in] and `NAME.lora_b` [out, r]."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            out[f"{name}.lora_a"], out[f"{name}.lora_b"] = module.lora_a.detach(), module.lora_b.detach()
    return out


def fully_trained(model: nn.Module) -> list[str]:
    """Names, as in the merged weights, of the parameters trained whole beside the adapters (the head, and
    lora.trainable): what an adapter export must carry in full."""
    adapted = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    names = []
    for name, p in model.named_parameters():
        if not p.requires_grad or name.endswith((".lora_a", ".lora_b")):
            continue
        layer = next((a for a in adapted if name.startswith(f"{a}.base.")), None)
        names.append(name if layer is None else f"{layer}.{name[len(layer) + 6:]}")
    return names
