"""The language-model head shared by BERT (MLM), GPT-2 (CLM) and T5 (seq2seq LM)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from framework.modules import activation
from framework.modules.loss import linear_cross_entropy


class LMHead(nn.Module):
    def __init__(self, hidden_size: int, vocab_size: int, *, embedding: Optional[nn.Embedding] = None,
                 transform: bool = False, transform_act: str = "gelu", layer_norm_eps: float = 1e-12,
                 bias: bool = False, rescale: bool = False):
        super().__init__()
        self.scale = hidden_size ** -0.5 if rescale else None
        if transform:
            self.dense = nn.Linear(hidden_size, hidden_size)
            self.act = activation(transform_act)
            self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        else:
            self.dense = None
        self.proj = nn.Linear(hidden_size, vocab_size, bias=False)
        if embedding is not None:
            self.proj.weight = embedding.weight  # tied: one Parameter, saved once
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def features(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """What the vocabulary projection reads: hidden states after the rescale and the transform."""
        x = hidden_states
        if self.scale is not None:
            x = x * self.scale
        if self.dense is not None:
            x = self.norm(self.act(self.dense(x)))
        return x

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        logits = self.proj(self.features(hidden_states))
        return logits + self.bias if self.bias is not None else logits

    def loss(self, hidden_states: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Token-mean cross-entropy of this head's logits against `labels` (-100: ignored), the projection fused
        with the loss so the [N, V] logits are never stored (`framework.modules.loss`)."""
        x = self.features(hidden_states)
        return linear_cross_entropy(x.reshape(-1, x.shape[-1]), self.proj.weight, labels.reshape(-1),
                                    bias=self.bias, label_smoothing=label_smoothing)


def build(cfg, backbone, num_labels=None) -> LMHead:
    """Language-model head.

    Args:
        cfg.tie_word_embeddings: share the backbone's input embedding matrix as the output projection.
        cfg.transform: BERT's dense + activation + LayerNorm before the projection.
        cfg.transform_act: activation of the transform (BERT uses its hidden_act).
        cfg.layer_norm_eps: epsilon of the transform's LayerNorm.
        cfg.bias: learned output bias.
        cfg.rescale: multiply hidden states by hidden_size**-0.5 (original T5, tied).
        backbone: gives hidden_size, vocab_size and get_input_embeddings().
        num_labels: unused (the vocabulary is the label set).
    """
    embedding = backbone.get_input_embeddings() if cfg.tie_word_embeddings else None
    return LMHead(backbone.hidden_size, backbone.vocab_size, embedding=embedding, transform=cfg.transform,
                  transform_act=cfg.transform_act, layer_norm_eps=cfg.layer_norm_eps, bias=cfg.bias,
                  rescale=cfg.rescale)
