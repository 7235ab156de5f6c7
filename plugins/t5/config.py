"""T5 encoder-decoder config (torch-free). Field names follow Hugging Face's T5Config, except the dropouts,
which share one name across the model families (`hf_names` maps Hugging Face's names onto them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from framework import checks


@dataclass
class T5Config:
    """vocab_size: null takes the tokenizer's vocabulary size.
    d_model: hidden size; d_kv: size of each attention head (num_heads * d_kv need not equal d_model);
    d_ff: feed-forward size; num_layers / num_decoder_layers (null: same as num_layers) / num_heads: shape.
    relative_attention_num_buckets / relative_attention_max_distance: the bucketed relative position bias.
    dropout: on embeddings, sublayer outputs and the final norm; attention_dropout: on attention weights
    (Hugging Face uses dropout_rate for both). layer_norm_epsilon: RMSNorm epsilon.
    feed_forward_proj: "relu" (original T5), "gated-gelu" (v1.1, GELU tanh approximation), "gated-silu", "gelu", ...
    decoder_start_token_id: the first decoder input (the pad id in T5).
    """

    vocab_size: Optional[int] = None
    hf_names: ClassVar[dict] = {"dropout_rate": ("dropout", "attention_dropout")}
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: Optional[int] = None
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_epsilon: float = 1e-6
    feed_forward_proj: str = "relu"
    decoder_start_token_id: int = 0

    def __post_init__(self):
        checks.positive(self, "vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers",
                        "num_heads", "relative_attention_num_buckets", "relative_attention_max_distance",
                        "layer_norm_epsilon")
        checks.in_range(self, 0, 1, "dropout", "attention_dropout")
