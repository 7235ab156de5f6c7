"""Config dataclasses of the training objectives (torch-free: `nlpf list` imports this). `head_output` names
what the objective needs from the head; `nlpf train` checks it against the head's `output` before building."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from framework import checks


@dataclass
class MaskedLMConfig:
    head_output: ClassVar[str] = "vocabulary"
    mask_probability: float = 0.15
    # of the selected tokens: this share becomes [MASK], `random_probability` a random token, the rest stays
    mask_token_probability: float = 0.8
    random_probability: float = 0.1
    whole_word_masking: bool = False

    def __post_init__(self):
        checks.in_range(self, 0, 1, "mask_probability", "mask_token_probability", "random_probability")
        checks.positive(self, "mask_probability")


@dataclass
class CausalLMConfig:
    head_output: ClassVar[str] = "vocabulary"
    label_smoothing: float = 0.0

    def __post_init__(self):
        checks.in_range(self, 0, 1, "label_smoothing")


@dataclass
class SpanCorruptionConfig:
    head_output: ClassVar[str] = "vocabulary"
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0

    def __post_init__(self):
        checks.in_range(self, 0, 1, "noise_density")
        checks.positive(self, "noise_density", "mean_noise_span_length")


@dataclass
class Seq2SeqConfig:
    head_output: ClassVar[str] = "vocabulary"
    label_smoothing: float = 0.0

    def __post_init__(self):
        checks.in_range(self, 0, 1, "label_smoothing")


@dataclass
class SequenceClassificationConfig:
    head_output: ClassVar[str] = "sequence_labels"
    label_smoothing: float = 0.0
    # one weight per label (imbalanced classes); null: all 1
    class_weights: Optional[list] = None

    def __post_init__(self):
        checks.in_range(self, 0, 1, "label_smoothing")
        checks.weights(self, "class_weights")


@dataclass
class SequenceRegressionConfig:
    head_output: ClassVar[str] = "sequence_labels"


@dataclass
class MultiLabelClassificationConfig:
    head_output: ClassVar[str] = "sequence_labels"
    # one weight per label for its positive examples (BCEWithLogitsLoss's pos_weight; > 1 raises recall); null: all 1
    pos_weight: Optional[list] = None
    label_smoothing: float = 0.0  # targets 1 - s/2 and s/2 in the training loss

    def __post_init__(self):
        checks.in_range(self, 0, 1, "label_smoothing")
        checks.weights(self, "pos_weight")


@dataclass
class TokenClassificationConfig:
    head_output: ClassVar[str] = "token_labels"
    label_smoothing: float = 0.0
    class_weights: Optional[list] = None

    def __post_init__(self):
        checks.in_range(self, 0, 1, "label_smoothing")
        checks.weights(self, "class_weights")


@dataclass
class QAConfig:
    head_output: ClassVar[str] = "qa_spans"
    # longest answer (in tokens) the span decoder considers at evaluation
    max_answer_length: int = 30

    def __post_init__(self):
        checks.positive(self, "max_answer_length")
