"""BERT encoder config (torch-free). Field names follow Hugging Face's BertConfig, except the dropouts,
which share one name across the model families (`hf_names` maps Hugging Face's names onto them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from framework import checks


@dataclass
class BertConfig:
    """vocab_size: null takes the tokenizer's vocabulary size.
    hidden_size / num_hidden_layers / num_attention_heads / intermediate_size: model shape.
    hidden_act: feed-forward activation (gelu, gelu_new, relu, ...).
    dropout: on embeddings and sublayer outputs (HF hidden_dropout_prob);
    attention_dropout: on attention weights (HF attention_probs_dropout_prob).
    max_position_embeddings: learned absolute positions; type_vocab_size: segment embeddings (0 disables them).
    layer_norm_eps: epsilon of every LayerNorm.
    """

    vocab_size: Optional[int] = None
    positions_field: ClassVar[str] = "max_position_embeddings"  # max_length is checked against it
    hf_names: ClassVar[dict] = {"hidden_dropout_prob": "dropout", "attention_probs_dropout_prob": "attention_dropout"}
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        checks.positive(self, "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                        "intermediate_size", "max_position_embeddings", "layer_norm_eps")
        checks.at_least(self, 0, "type_vocab_size")
        checks.divisible(self, "hidden_size", "num_attention_heads")
        checks.in_range(self, 0, 1, "dropout", "attention_dropout")
