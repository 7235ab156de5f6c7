"""Config dataclasses of every component this plugin registers (torch-free: `nlpf list` imports them).
Each field is a key of the component's config node, e.g. `model.hidden_size`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class LSTMLanguageModelConfig:
    """A left-to-right LSTM language model (kind decoder)."""

    vocab_size: Optional[int] = None  # null: the tokenizer's vocabulary size
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.1


@dataclass
class LSTMEncoderConfig:
    """A bidirectional LSTM encoder (kind encoder); hidden_size is the output width, half per direction."""

    vocab_size: Optional[int] = None  # null: the tokenizer's vocabulary size
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.1


@dataclass
class WordTokenizerConfig:
    """Lower-cased words and punctuation; the vocabulary is the most frequent words of the training corpus."""

    path: Optional[str] = None  # a vocab.txt (one token per line); null: train on the run's corpus
    vocab_size: int = 2000  # the most this tokenizer keeps, special tokens included
    min_frequency: int = 1
    lowercase: bool = True
    template: str = "bos_eos"  # cls_sep | eos | bos_eos | none: special tokens around each example


@dataclass
class WordDropoutLMConfig:
    """Causal LM whose inputs have words replaced by <unk> at random (Gal & Ghahramani's word dropout)."""

    word_dropout: float = 0.1


@dataclass
class AttentivePoolingHeadConfig:
    """Sequence classification from an attention-weighted average of the hidden states."""

    attention_size: int = 64
    dropout: float = 0.1
    num_labels: Optional[int] = None  # null: read from the data


@dataclass
class ToyReviewsConfig:
    """Synthetic one-sentence reviews with a positive/negative label, generated from a seed."""

    num_examples: int = 400
    seed: int = 0
    split_seed: int = 0
    validation_ratio: float = 0.1
    test_ratio: float = 0.1
    max_examples: Optional[int] = None
