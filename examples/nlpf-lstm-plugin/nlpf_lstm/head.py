"""Attentive pooling head (Lin et al. 2017, "A structured self-attentive sentence embedding", one hop):
score each position, softmax over the real tokens, classify the weighted average."""
from __future__ import annotations

import torch
from torch import nn

from framework.errors import ConfigError


class AttentivePoolingHead(nn.Module):
    def __init__(self, hidden_size: int, attention_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(hidden_size, attention_size), nn.Tanh(),
                                   nn.Linear(attention_size, 1, bias=False))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def attention(self, hidden_states, attention_mask=None) -> torch.Tensor:
        """[B, L] weights summing to 1 over the real tokens."""
        scores = self.score(hidden_states).squeeze(-1).float()
        if attention_mask is not None:
            scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        return scores.softmax(-1).to(hidden_states.dtype)

    def forward(self, hidden_states, attention_mask=None) -> torch.Tensor:
        weights = self.attention(hidden_states, attention_mask)
        pooled = torch.einsum("bl,blh->bh", weights, hidden_states)
        return self.classifier(self.dropout(pooled))


def build(cfg, backbone, num_labels=None) -> AttentivePoolingHead:
    """Attentive pooling classification head.

    Args:
        cfg.attention_size: width of the scoring layer.
        cfg.dropout: dropout on the pooled vector.
        cfg.num_labels: number of labels; null reads it from the data.
        backbone: gives `hidden_size`.
    """
    n = cfg.get("num_labels") or num_labels
    if not n:
        raise ConfigError("head 'attentive_pooling' needs the number of labels",
                          hint="set head.num_labels=N, or train on a labelled data set")
    return AttentivePoolingHead(backbone.hidden_size, int(cfg.attention_size), int(n), float(cfg.dropout))
