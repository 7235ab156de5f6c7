"""Config dataclasses of the training objectives (torch-free: `nlpf list` imports this)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class MaskedLMConfig:
    mask_probability: float = 0.15
    # of the selected tokens: this share becomes [MASK], `random_probability` a random token, the rest stays
    mask_token_probability: float = 0.8
    random_probability: float = 0.1
    whole_word_masking: bool = False


@dataclass
class CausalLMConfig:
    label_smoothing: float = 0.0


@dataclass
class SpanCorruptionConfig:
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0


@dataclass
class Seq2SeqConfig:
    label_smoothing: float = 0.0


@dataclass
class SequenceClassificationConfig:
    label_smoothing: float = 0.0
    # one weight per label (imbalanced classes); null: all 1
    class_weights: Optional[list] = None


@dataclass
class TokenClassificationConfig:
    label_smoothing: float = 0.0
    class_weights: Optional[list] = None


@dataclass
class QAConfig:
    # longest answer (in tokens) the span decoder considers at evaluation
    max_answer_length: int = 30
