"""Activation functions by the names Hugging Face configs use."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from framework.errors import NlpfError, did_you_mean


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def _quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


def _gelu_fast(x: torch.Tensor) -> torch.Tensor:
    # same formula as gelu_new written the way HF writes it; kept separate so rounding matches
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    # GPT-2's tanh approximation as torch's fused kernel: the same formula (within 3e-7 of the reference's
    # eight-op version) at a quarter of its forward+backward time on CPU
    return F.gelu(x, approximate="tanh")


def _gelu_python(x: torch.Tensor) -> torch.Tensor:
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _gelu_10(x: torch.Tensor) -> torch.Tensor:
    return torch.clip(F.gelu(x), -10.0, 10.0)


def _relu2(x: torch.Tensor) -> torch.Tensor:
    return torch.square(F.relu(x))


def _linear(x: torch.Tensor) -> torch.Tensor:
    return x


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,  # exact (erf)
    "gelu_python": _gelu_python,
    "gelu_new": _gelu_new,
    "gelu_accurate": _gelu_new,  # the same formula
    "gelu_python_tanh": _gelu_new,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": _gelu_fast,
    "gelu_10": _gelu_10,
    "quick_gelu": _quick_gelu,
    "relu": F.relu,
    "relu2": _relu2,
    "relu6": F.relu6,
    "leaky_relu": F.leaky_relu,
    "silu": F.silu,
    "swish": F.silu,
    "mish": F.mish,
    "hardswish": F.hardswish,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": _linear,
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation called `name`; an unknown name is a user error."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise NlpfError(
            f"unknown activation '{name}'." + did_you_mean(name, ACTIVATIONS),
            hint=f"supported activations: {', '.join(ACTIVATIONS)}",
        ) from None
