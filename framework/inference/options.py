"""Torch-free option dataclasses of the inference commands and the Python API.

The CLI parses `key=value` arguments into these with `framework.config.parse_into`, so a misspelt
option gets a "did you mean" and a wrong type names the key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from framework import checks

STRATEGIES = ("auto", "greedy", "sample", "beam")


@dataclass
class GenerationOptions:
    """How to decode. `strategy=auto` picks beam search when num_beams > 1, sampling when do_sample."""

    strategy: str = "auto"
    max_new_tokens: int = 32
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    repetition_penalty: float = 1.0  # 1.0: off
    no_repeat_ngram_size: int = 0  # n > 0: never repeat an n-gram of the prompt + output (decoder's output for seq2seq)
    num_beams: int = 1
    length_penalty: float = 1.0  # beam score = log-prob / length ** length_penalty
    # beam: true stops as soon as num_beams hypotheses are finished; false stops when the best running
    # beam cannot beat them at its current length; "never" only when it cannot at any length
    early_stopping: Any = False
    num_return_sequences: int = 1
    # a stop string or a list of them; the text is cut before them. On the command line one string is kept as
    # typed, spaces included, and `[...]` is a list (parse_into's text_or_list)
    stop: Any = field(default_factory=list, metadata={"text_or_list": True})
    seed: Optional[int] = None
    use_cache: bool = True


@dataclass
class GenerateArgs(GenerationOptions):
    """`nlpf generate` / `nlpf translate`."""

    ckpt: Optional[str] = None
    prompt: Optional[str] = None
    input: Optional[str] = None  # a text file (one prompt a line), JSONL with "text"/"prompt"/"source", or -
    output: Optional[str] = None  # JSONL; default: plain text to stdout
    batch_size: int = 8
    stream: bool = True  # print tokens as they come (single prompt, greedy or sampling)
    device: str = "cpu"
    dtype: str = "float32"  # float32 | bfloat16

    def __post_init__(self):  # sampling options are checked by generation.resolve_options
        checks.positive(self, "batch_size")


@dataclass
class RecordsArgs:
    """What `nlpf predict` and `nlpf embed` share: a checkpoint, records in, one JSON line out per record."""

    ckpt: Optional[str] = None
    input: Optional[str] = None  # FILE (.jsonl, .csv, .tsv, plain text) or - for stdin
    output: Optional[str] = None  # JSONL; default stdout
    format: str = "auto"  # auto | jsonl | csv | tsv | text
    text_field: str = "text"
    batch_size: int = 32
    chunk_size: int = 1024  # lines read ahead and sorted by length at a time
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self):
        checks.positive(self, "batch_size", "chunk_size")


@dataclass
class PredictArgs(RecordsArgs):
    """`nlpf predict`."""

    # the task-specific options are None when not given: the Predictor refuses one the checkpoint's task does not
    # use, and a pair_field= given must be in every example
    pair_field: Optional[str] = None  # default: an example's "text_pair", when it has one
    question_field: Optional[str] = None  # QA; default "question"
    context_field: Optional[str] = None  # QA; default "context"
    max_length: Optional[int] = None
    top_k: Optional[int] = None  # labels with probabilities (classification, default 1); candidates per mask (5)
    max_answer_length: Optional[int] = None  # QA; default 30
    threshold: Optional[float] = None  # multi-label: the labels whose probability is above it; default 0.5

    def __post_init__(self):
        super().__post_init__()
        checks.positive(self, "max_length", "top_k", "max_answer_length")
        checks.in_range(self, 0, 1, "threshold")


@dataclass
class EmbedArgs(RecordsArgs):
    """`nlpf embed`."""

    pooling: str = "mean"  # mean | cls
    normalize: bool = True  # unit length: a dot product is the cosine similarity


@dataclass
class ScoreArgs:
    """`nlpf score`."""

    ckpt: Optional[str] = None
    input: Optional[str] = None  # text/JSONL ("text", or "source" + "target"), or an n-best JSONL with nbest=true
    output: Optional[str] = None
    nbest: bool = False
    lm_weight: float = 0.5  # lambda in first-pass score + lambda * LM log-likelihood + length_bonus * words
    length_bonus: float = 0.0
    tokens: bool = False  # also write per-token log-probabilities
    eos: Optional[bool] = None  # score the end-of-sequence token too; unset: yes for n-best lists and encoder-decoders
    batch_size: int = 16
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self):
        checks.positive(self, "batch_size")
        for name in ("lm_weight", "length_bonus"):  # NaN totals would sort first and are not valid JSON
            if not math.isfinite(getattr(self, name)):
                raise checks.FieldError(name, getattr(self, name), "must be a finite number",
                                        hint=f"set {name} to a number such as 0.5")
