"""Shared transformer building blocks used by the architecture plugins (imports torch)."""
from framework.modules.activations import ACTIVATIONS, activation
from framework.modules.attention import Attention
from framework.modules.dropout import Dropout
from framework.modules.embeddings import Embeddings
from framework.modules.feedforward import FeedForward
from framework.modules.layer import TransformerLayer
from framework.modules.masks import attention_bias, bias_for_compute, causal_mask, padding_mask, to_bias
from framework.modules.norms import LayerNorm, RMSNorm, make_norm
from framework.modules.outputs import BackboneOutput
from framework.modules.relative_position import RelativePositionBias, relative_position_bucket

__all__ = [
    "ACTIVATIONS", "activation", "Attention", "Dropout", "Embeddings", "FeedForward", "TransformerLayer",
    "attention_bias", "bias_for_compute", "causal_mask", "padding_mask", "to_bias", "LayerNorm", "RMSNorm", "make_norm", "BackboneOutput",
    "RelativePositionBias", "relative_position_bucket",
]
