"""GPT-2 decoder config (torch-free). Field names follow Hugging Face's GPT2Config, except the dropouts,
which share one name across the model families (`hf_names` maps Hugging Face's names onto them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from framework import checks


@dataclass
class GPTConfig:
    """vocab_size: null takes the tokenizer's vocabulary size.
    n_positions: learned absolute positions (the longest context); n_embd / n_layer / n_head: model shape.
    n_inner: feed-forward size, null means 4 * n_embd. activation_function: gelu_new (GPT-2), gelu, relu, ...
    dropout: on embeddings and sublayer outputs (HF embd_pdrop and resid_pdrop);
    attention_dropout: on attention weights (HF attn_pdrop).
    layer_norm_epsilon: epsilon of every LayerNorm.
    scale_attn_weights: divide scores by sqrt(head_dim); scale_attn_by_inverse_layer_idx: also by (layer index + 1).
    """

    vocab_size: Optional[int] = None
    positions_field: ClassVar[str] = "n_positions"  # max_length is checked against it
    hf_names: ClassVar[dict] = {"resid_pdrop": "dropout", "embd_pdrop": "dropout", "attn_pdrop": "attention_dropout"}
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: Optional[int] = None
    activation_function: str = "gelu_new"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_epsilon: float = 1e-5
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False

    def __post_init__(self):
        checks.positive(self, "vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner",
                        "layer_norm_epsilon")
        checks.divisible(self, "n_embd", "n_head")
        checks.in_range(self, 0, 1, "dropout", "attention_dropout")
