"""Low-rank adaptation (LoRA, Hu et al. 2021) of a frozen linear layer.

y = base(x) + scale * (x A^T) B^T with A [r, in], B [out, r] and scale = alpha / r. B starts at zero, so a
wrapped layer computes exactly what the base layer did until training moves it. The low-rank path runs
beside the frozen matmul, so the backward computes no gradient for the base weight (a third of that
layer's matmul work). `weight` is the effective matrix, for code that reads a layer's weight directly.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        if r < 1:
            raise ValueError(f"LoRA rank must be at least 1, got {r}")
        self.base = base.requires_grad_(False)
        self.r, self.scale = int(r), float(alpha) / int(r)
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_a = nn.Parameter(torch.empty(r, base.in_features, **factory))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, r, **factory))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # nn.Linear's own initialisation

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight + self.scale * (self.lora_b @ self.lora_a)

    @property
    def bias(self):
        return self.base.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scale

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain nn.Linear computing what this layer computes now."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                        device=self.base.weight.device, dtype=self.base.weight.dtype)
        out.weight.copy_(self.weight)
        if self.base.bias is not None:
            out.bias.copy_(self.base.bias)
        return out

    def extra_repr(self) -> str:
        return f"r={self.r}, scale={self.scale:g}"
