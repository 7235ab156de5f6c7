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
    # GPT-2's tanh approximation, written exactly like the reference so float rounding matches
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,  # exact (erf)
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": _gelu_fast,
    "quick_gelu": _quick_gelu,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
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
