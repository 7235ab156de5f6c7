"""Head configs (torch-free). One dataclass per head; register it in plugins/heads/__init__.py. `output` names
what the head gives, matched against the objective's `head_output` before anything is built."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from framework import checks


@dataclass
class LMHeadConfig:
    """Language-model head: hidden states -> vocabulary logits (BERT MLM, GPT-2 CLM, T5).

    tie_word_embeddings: reuse the backbone's input embedding matrix as the output projection.
    transform: BERT's prediction transform (dense, activation, LayerNorm) before the projection;
    transform_act / layer_norm_eps configure it.
    bias: a learned output bias per vocabulary entry (BERT).
    rescale: multiply hidden states by hidden_size**-0.5 first (original T5 with tied embeddings).
    """
    output: ClassVar[str] = "vocabulary"

    tie_word_embeddings: bool = True
    transform: bool = False
    transform_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    bias: bool = False
    rescale: bool = False


POOLINGS = ("auto", "cls", "mean", "last")  # auto: last for decoders, cls for the others


@dataclass
class SequenceClassificationHeadConfig:
    """pooling: auto | cls | mean | last. pooler: BERT's dense+tanh pooler. num_labels: null reads it from the data."""
    output: ClassVar[str] = "sequence_labels"

    pooling: str = "auto"
    dropout: float = 0.1
    pooler: bool = False
    num_labels: Optional[int] = None

    def __post_init__(self):
        checks.one_of(self, "pooling", POOLINGS)
        checks.in_range(self, 0, 1, "dropout")
        checks.positive(self, "num_labels")


@dataclass
class TokenClassificationHeadConfig:
    """A linear layer per token. num_labels: null reads it from the data."""
    output: ClassVar[str] = "token_labels"

    dropout: float = 0.1
    num_labels: Optional[int] = None

    def __post_init__(self):
        checks.in_range(self, 0, 1, "dropout")
        checks.positive(self, "num_labels")


@dataclass
class QAHeadConfig:
    """Extractive QA: start and end logits per token."""
    output: ClassVar[str] = "qa_spans"
