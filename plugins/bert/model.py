"""BERT encoder, built from framework.modules."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from framework.modules import BackboneOutput, Embeddings, TransformerLayer, padding_mask
from framework.modules.at_positions import layer_at_positions


class Bert(nn.Module):
    kind = "encoder"

    def __init__(self, cfg):
        super().__init__()
        self.hidden_size = cfg.hidden_size
        self.vocab_size = cfg.vocab_size
        self.embeddings = Embeddings(
            cfg.vocab_size, cfg.hidden_size,
            max_positions=cfg.max_position_embeddings, type_vocab_size=cfg.type_vocab_size,
            norm=nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps), dropout=cfg.dropout,
        )
        self.layers = nn.ModuleList(
            TransformerLayer(
                cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size,
                act=cfg.hidden_act, norm="layer", eps=cfg.layer_norm_eps, pre_norm=False,
                dropout=cfg.dropout, attn_dropout=cfg.attention_dropout,
            )
            for _ in range(cfg.num_hidden_layers)
        )

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                token_type_ids: Optional[torch.Tensor] = None, output_hidden_states: bool = False,
                output_mask: Optional[torch.Tensor] = None) -> BackboneOutput:
        """output_mask: [B, L] bool; when given (and no hidden states are asked for), the last layer runs only
        at those positions and last_hidden_state is [N, hidden], their rows in row-major order (masked LM)."""
        x = self.embeddings(input_ids, token_type_ids)
        bias = padding_mask(attention_mask)
        states = [x] if output_hidden_states else None
        # the partial pass reads the last layer's weights itself: not from a wrapper (FSDP shards them) or a subclass
        partial = output_mask is not None and states is None and type(self.layers[-1]) is TransformerLayer
        for layer in self.layers[:-1] if partial else self.layers:
            x, _ = layer(x, bias=bias)
            if states is not None:
                states.append(x)
        if partial:
            x = layer_at_positions(self.layers[-1], x, output_mask, bias)
        elif output_mask is not None:
            x = x[output_mask]
        return BackboneOutput(x, tuple(states) if states is not None else None)


def build(cfg) -> Bert:
    """Build a BERT encoder.

    Hyperparameters (cfg fields): vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
    intermediate_size, hidden_act, dropout, attention_dropout,
    max_position_embeddings, type_vocab_size, layer_norm_eps.
    """
    return Bert(cfg)
