"""Position-wise feed-forward: up projection, activation (optionally gated), down projection."""
from __future__ import annotations

import torch
from torch import nn

from framework.modules.activations import activation
from framework.modules.dropout import Dropout


class FeedForward(nn.Module):
    """`down(act(up(x)))`, or for gated variants `down(act(gate(x)) * up(x))` (T5 v1.1 gated-GELU).

    In the gated case one fused `up` matrix holds [gate; up] so one matmul serves both halves.
    """

    def __init__(self, hidden_size: int, inner_size: int, act: str = "gelu", gated: bool = False,
                 bias: bool = True, dropout: float = 0.0):
        super().__init__()
        self.gated = gated
        self.act = activation(act)
        self.up = nn.Linear(hidden_size, inner_size * (2 if gated else 1), bias=bias)
        self.down = nn.Linear(inner_size, hidden_size, bias=bias)
        self.dropout = Dropout(dropout)  # between activation and down projection (T5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)
        if self.gated:
            gate, h = h.chunk(2, dim=-1)
            h = self.act(gate) * h
        else:
            h = self.act(h)
        return self.down(self.dropout(h) if self.training else h)
