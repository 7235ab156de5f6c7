"""sentencepiece tokenizers: trained (unigram or BPE) on the run's corpus, or loaded from a .model file."""
from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import sentencepiece as spm

from framework.errors import NlpfError
from framework.tokenizers.base import Tokenizer

MODEL_FILE = "spm.model"
MODEL_TYPES = ("unigram", "bpe", "char", "word")


def sentinel(i: int) -> str:
    return f"<extra_id_{i}>"


def _byte_to_char(text: str) -> np.ndarray | None:
    """For each UTF-8 byte offset (and the end), the character offset; None for ASCII (they are equal)."""
    raw = text.encode("utf-8")
    if len(raw) == len(text):
        return None
    starts = np.frombuffer(raw, dtype=np.uint8) & 0xC0 != 0x80
    return np.concatenate([np.cumsum(starts) - 1, [len(text)]])


class SentencePieceTokenizer(Tokenizer):
    name = "sentencepiece"

    def __init__(self, model_file: str | Path, cfg):
        self.model_file = Path(model_file)
        if self.model_file.is_dir():  # e.g. the directory `nlpf tokenizer train` wrote
            inside = sorted(self.model_file.glob("*.model"))
            raise NlpfError(f"tokenizer.model_file '{model_file}' is a directory, not a sentencepiece model",
                            hint=f"point it at the model file: tokenizer.model_file={inside[0]}" if inside else
                            "point it at a sentencepiece .model file, or set it to null to train one")
        if not self.model_file.is_file():
            raise NlpfError(f"tokenizer.model_file '{model_file}' does not exist",
                            hint="point it at a sentencepiece .model file, or set it to null to train one")
        self.cfg = cfg
        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(self.model_file))
        except (RuntimeError, OSError) as err:  # not a sentencepiece model (a text file, a truncated download)
            raise NlpfError(f"tokenizer.model_file '{model_file}' is not a valid sentencepiece model: "
                            f"{str(err).splitlines()[0]}",
                            hint="point it at a .model file written by sentencepiece, or set it to null to train one") from None
        self.template = cfg.template
        self.num_threads = max(1, int(cfg.num_threads))
        self.vocab_size = self.sp.get_piece_size()
        self.unk_id = self.sp.unk_id()
        self.pad_id, self.bos_id, self.eos_id = (i if i >= 0 else None for i in (self.sp.pad_id(), self.sp.bos_id(), self.sp.eos_id()))
        self.mask_id, self.cls_id, self.sep_id = (self.token_to_id(p) if p else None for p in (cfg.mask, cfg.cls, cfg.sep))
        self.sentinel_ids = [self.token_to_id(sentinel(i)) for i in range(cfg.num_sentinels)]
        if None in self.sentinel_ids:
            raise NlpfError(f"{model_file} has no {sentinel(self.sentinel_ids.index(None))} piece but tokenizer.num_sentinels="
                            f"{cfg.num_sentinels}", hint="train the model with sentinels or lower tokenizer.num_sentinels")
        self._template_ids(pair=True)  # fail early when the template needs a token the model lacks

    def _encode_plain(self, texts: Sequence[str], with_offsets: bool):
        if not with_offsets:
            return [(ids, None) for ids in self.sp.encode(list(texts), out_type=int, num_threads=self.num_threads)]
        out = []
        for text, proto in zip(texts, self.sp.encode(list(texts), return_type="proto", num_threads=self.num_threads)):
            to_char = _byte_to_char(text)
            ids = [p.id for p in proto.pieces]
            if to_char is None:
                offsets = [(p.begin, p.end) for p in proto.pieces]
            else:
                offsets = [(int(to_char[p.begin]), int(to_char[p.end])) for p in proto.pieces]
            out.append((ids, offsets))
        return out

    def _decode_plain(self, ids: Sequence[int]) -> str:
        """sentencepiece drops its control pieces (<pad>, <s>, </s>) even where special tokens are kept: those are
        written as their pieces, and the text between them decoded as usual (a leading ▁ still means a space)."""
        parts, run = [], []
        for i in list(ids) + [None]:
            if i is not None and not self.sp.is_control(i):
                run.append(i)
                continue
            if run:
                spaced = parts and self.sp.id_to_piece(run[0]).startswith("\u2581")
                parts.append((" " if spaced else "") + self.sp.decode(run))
                run = []
            if i is not None:
                parts.append(self.sp.id_to_piece(i))
        return "".join(parts)

    def token_to_id(self, token: str) -> int | None:
        index = self.sp.piece_to_id(token)
        return None if index == self.unk_id and token != self.sp.id_to_piece(self.unk_id) else index

    def id_to_token(self, index: int) -> str | None:
        return self.sp.id_to_piece(index) if 0 <= index < self.vocab_size else None

    def save(self, directory) -> dict:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / MODEL_FILE
        if self.model_file.resolve() != target.resolve():
            shutil.copyfile(self.model_file, target)
        node = {k: self.cfg[k] for k in self.cfg if k != "name"}
        node.update(name="sentencepiece", model_file=MODEL_FILE)
        return node

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.sp.serialized_model_proto()).hexdigest()
        return f"sentencepiece:{digest}:{self.template}:{self.cfg.num_sentinels}"


def needs_training(cfg) -> bool:
    return not cfg.model_file


def train(cfg, corpus_file: Path, out_dir: Path) -> SentencePieceTokenizer:
    """Train on a text file (one sentence per line) into out_dir/spm.model."""
    if cfg.model_type not in MODEL_TYPES:
        raise NlpfError(f"tokenizer.model_type='{cfg.model_type}' is not supported", hint=f"use one of {', '.join(MODEL_TYPES)}")
    ids = {"pad": cfg.pad, "unk": cfg.unk, "bos": cfg.bos, "eos": cfg.eos}
    numbered, next_id = {}, 0
    for key in ("pad", "unk", "bos", "eos"):
        numbered[key] = next_id if ids[key] else -1
        next_id += 1 if ids[key] else 0
    symbols = [p for p in (cfg.mask, cfg.cls, cfg.sep) if p] + [sentinel(i) for i in range(cfg.num_sentinels)]
    spm.set_random_generator_seed(int(cfg.seed) + 1)  # 0 would mean "random"
    try:
        spm.SentencePieceTrainer.train(
            input=str(corpus_file), model_prefix=str(out_dir / "spm"), model_type=cfg.model_type,
            vocab_size=cfg.vocab_size, character_coverage=cfg.character_coverage,
            pad_id=numbered["pad"], unk_id=numbered["unk"], bos_id=numbered["bos"], eos_id=numbered["eos"],
            pad_piece=cfg.pad or "<pad>", unk_piece=cfg.unk, bos_piece=cfg.bos or "<s>", eos_piece=cfg.eos or "</s>",
            user_defined_symbols=symbols, input_sentence_size=cfg.input_sentence_size, shuffle_input_sentence=True,
            max_sentence_length=cfg.max_sentence_length, byte_fallback=cfg.byte_fallback,
            num_threads=max(1, int(cfg.num_threads)), minloglevel=2,
        )
    except RuntimeError as err:
        msg = str(err)
        chars = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", msg)
        if chars:
            raise NlpfError(f"tokenizer.vocab_size={cfg.vocab_size} is too small for the {chars.group(2)} characters and "
                            f"special pieces this corpus needs (character_coverage={cfg.character_coverage})",
                            hint=f"set tokenizer.vocab_size to at least {chars.group(2)}, or lower "
                            "tokenizer.character_coverage (e.g. 0.9995)") from None
        limit = re.search(r"<= ?(\d+)", msg)
        if "Vocabulary size" in msg and limit:
            raise NlpfError(f"cannot train a {cfg.vocab_size}-token {cfg.model_type} model on this corpus: it supports at "
                            f"most {limit.group(1)} tokens",
                            hint=f"set tokenizer.vocab_size={limit.group(1)} or less, or train on more text") from None
        raise NlpfError(f"sentencepiece training failed: {msg.splitlines()[0]}") from None
    return SentencePieceTokenizer(out_dir / "spm.model", cfg)


def build(cfg) -> SentencePieceTokenizer:
    """Load a sentencepiece model (training goes through framework.tokenizers.build_tokenizer).

    Args (cfg fields):
        model_file: the .model to load; null means train (needs a corpus).
        model_type: unigram | bpe | char | word (training).
        vocab_size: pieces in the trained model, special tokens included.
        character_coverage: share of characters the model must cover (0.9995 for Latin scripts, 1.0 for small alphabets).
        template: special tokens around each example: eos (T5), cls_sep (BERT), bos_eos or none.
        pad, unk, bos, eos, mask, cls, sep: the special pieces (null leaves one out; unk is required).
        num_sentinels: T5 sentinels <extra_id_0..N-1>.
        max_sentence_length, input_sentence_size, byte_fallback, num_threads, seed: training options.
    """
    if needs_training(cfg):
        raise NlpfError("this sentencepiece tokenizer has no model_file and must be trained first",
                        hint="use framework.tokenizers.build_tokenizer(cfg, corpus) or `nlpf tokenizer train`")
    return SentencePieceTokenizer(cfg.model_file, cfg)
