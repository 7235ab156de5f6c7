"""Token embeddings plus optional learned absolute positions and segment (token type) embeddings."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from framework.modules.dropout import Dropout


class Embeddings(nn.Module):
    """word(ids) [+ position(past_length + arange)] [+ token_type(ids)] -> [norm] -> dropout.

    max_positions=0 disables learned positions (T5); type_vocab_size=0 disables segments (GPT-2, T5).
    """

    def __init__(self, vocab_size: int, hidden_size: int, *, max_positions: int = 0, type_vocab_size: int = 0,
                 norm: Optional[nn.Module] = None, dropout: float = 0.0):
        super().__init__()
        self.word = nn.Embedding(vocab_size, hidden_size)
        self.position = nn.Embedding(max_positions, hidden_size) if max_positions else None
        self.token_type = nn.Embedding(type_vocab_size, hidden_size) if type_vocab_size else None
        self.norm = norm
        self.dropout = Dropout(dropout)

    def forward(self, input_ids: torch.Tensor, token_type_ids: Optional[torch.Tensor] = None,
                past_length: int = 0, position_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.word(input_ids)
        if self.position is not None:
            if position_ids is None:
                position_ids = torch.arange(past_length, past_length + input_ids.shape[1], device=input_ids.device)[None]
            x = x + self.position(position_ids)
        if self.token_type is not None:
            if token_type_ids is None:  # all zeros: add row 0 without materialising an id tensor
                x = x + self.token_type.weight[0]
            else:
                x = x + self.token_type(token_type_ids)
        if self.norm is not None:
            x = self.norm(x)
        return self.dropout(x) if self.training else x
