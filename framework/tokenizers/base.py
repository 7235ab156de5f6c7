"""The Tokenizer contract every tokenizer plugin implements.

Subclasses turn plain text into ids without special tokens (`_encode_plain`, in batches); this class adds
pre-split words (word_ids), pairs, truncation and the special-token template on top. A subclass whose
library does all of that natively (Hugging Face `tokenizers`) overrides `encode_batch` instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from framework.errors import NlpfError

Offsets = list[tuple[int, int]]

# How special tokens wrap one sequence A or a pair A, B.
TEMPLATES = {
    "cls_sep": "[CLS] A [SEP] / [CLS] A [SEP] B [SEP] (BERT)",
    "eos": "A </s> / A </s> B </s> (T5)",
    "bos_eos": "<s> A </s> / <s> A </s> B </s>",
    "none": "A / A B",
}

SPECIAL_NAMES = ("pad", "unk", "bos", "eos", "mask", "cls", "sep")


@dataclass
class Encoding:
    """One encoded example. `offsets` are character spans into the input text (into each word when the input
    was pre-split); special tokens get (0, 0). `word_ids` and `sequence_ids` are None for special tokens."""

    ids: list[int]
    type_ids: list[int] = field(default_factory=list)
    offsets: Offsets | None = None
    word_ids: list[int | None] | None = None
    sequence_ids: list[int | None] | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class _Piece:
    """A segment before special tokens are added."""

    ids: list[int]
    offsets: Offsets
    word_ids: list[int | None] | None


class Tokenizer:
    """Base class. Special-token ids are None when the tokenizer has no such token."""

    name: str = "base"
    vocab_size: int
    pad_id: int | None = None
    unk_id: int | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    mask_id: int | None = None
    cls_id: int | None = None
    sep_id: int | None = None
    sentinel_ids: list[int] = []
    template: str = "cls_sep"

    # --- what subclasses implement -------------------------------------------------------------
    def _encode_plain(self, texts: Sequence[str], with_offsets: bool) -> list[tuple[list[int], Offsets | None]]:
        """Ids (and character offsets when asked) of each text, without special tokens (batched natively)."""
        raise NotImplementedError

    def _decode_plain(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def token_to_id(self, token: str) -> int | None:
        raise NotImplementedError

    def id_to_token(self, index: int) -> str | None:
        raise NotImplementedError

    def save(self, directory) -> dict:
        """Write the tokenizer's files into `directory`; return the config node (paths relative to it)."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """A string that changes whenever the ids produced for some text could change (used by caches)."""
        raise NotImplementedError

    # --- shared behaviour ----------------------------------------------------------------------
    @property
    def special_ids(self) -> set[int]:
        ids = {getattr(self, f"{n}_id") for n in SPECIAL_NAMES} | set(self.sentinel_ids)
        return {i for i in ids if i is not None}

    def num_special_tokens(self, pair: bool = False) -> int:
        """How many special tokens `encode_batch(add_special_tokens=True)` adds."""
        return sum(len(part) for part in self._template_ids(pair))

    def _template_ids(self, pair: bool) -> tuple[list[int], list[int], list[int]]:
        """(before A, after A, after B) special ids of the template."""
        t = self.template
        if t == "none":
            return [], [], []
        if t == "cls_sep":
            self._require("cls", "sep")
            return [self.cls_id], [self.sep_id], [self.sep_id] if pair else []
        if t == "eos":
            self._require("eos")
            return [], [self.eos_id], [self.eos_id] if pair else []
        if t == "bos_eos":
            self._require("bos", "eos")
            return [self.bos_id], [self.eos_id], [self.eos_id] if pair else []
        raise NlpfError(f"unknown tokenizer template '{t}'", hint=f"use one of {', '.join(TEMPLATES)}")

    def _require(self, *names: str) -> None:
        missing = [n for n in names if getattr(self, f"{n}_id") is None]
        if missing:
            raise NlpfError(
                f"tokenizer '{self.name}' has no {', '.join(missing)} token, which its template '{self.template}' needs",
                hint="add the token to the tokenizer's special tokens or choose another tokenizer.template",
            )

    def _pieces(self, texts: Sequence[Any], with_offsets: bool) -> list[_Piece]:
        if not texts:
            return []
        if isinstance(texts[0], str):
            return [_Piece(ids, offs if offs is not None else [(0, 0)] * len(ids), None)
                    for ids, offs in self._encode_plain(list(texts), with_offsets)]
        # pre-split words: encode every word in one batch; words after the first get a leading space so that
        # word-initial markers (sentencepiece's ▁, byte-level spaces) match running text
        flat, owner = [], []
        for i, words in enumerate(texts):
            for j, w in enumerate(words):
                flat.append(w if j == 0 else " " + w)
                owner.append((i, j))
        encoded = self._encode_plain(flat, True)
        pieces = [_Piece([], [], []) for _ in texts]
        for (i, j), (ids, offs), w in zip(owner, encoded, flat):
            shift = 0 if j == 0 else 1
            piece = pieces[i]
            piece.ids.extend(ids)
            piece.offsets.extend((max(a - shift, 0), max(b - shift, 0)) for a, b in offs)
            piece.word_ids.extend([j] * len(ids))
        return pieces

    @staticmethod
    def _truncate(a: _Piece, b: _Piece | None, budget: int, strategy: str) -> None:
        def cut(p: _Piece, n: int) -> None:
            del p.ids[n:], p.offsets[n:]
            if p.word_ids is not None:
                del p.word_ids[n:]

        if b is None:
            cut(a, max(budget, 0))
            return
        if strategy == "only_second":
            cut(b, max(budget - len(a.ids), 0))
            return
        while len(a.ids) + len(b.ids) > budget and (a.ids or b.ids):  # longest_first
            longer = a if len(a.ids) >= len(b.ids) else b
            cut(longer, len(longer.ids) - 1)

    def encode_batch(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        add_special_tokens: bool = True,
        with_offsets: bool = False,
        pair: Sequence[str] | None = None,
        max_length: int | None = None,
        truncation: str = "longest_first",
    ) -> list[Encoding]:
        """Encode many texts (or lists of pre-split words) at once; `pair` gives second segments.

        `max_length` truncates (`longest_first`, or `only_second` to keep the first segment whole), counting
        the special tokens the template adds.
        """
        if pair is not None and len(pair) != len(texts):
            raise NlpfError(f"encode_batch: {len(texts)} texts but {len(pair)} pair texts")
        a_pieces = self._pieces(texts, with_offsets)
        b_pieces = self._pieces(pair, with_offsets) if pair is not None else [None] * len(a_pieces)
        pre, mid, post = self._template_ids(pair is not None) if add_special_tokens else ([], [], [])
        n_special = len(pre) + len(mid) + len(post)
        pretokenized = bool(texts) and not isinstance(texts[0], str)
        out = []
        for a, b in zip(a_pieces, b_pieces):
            if max_length is not None:
                self._truncate(a, b, max_length - n_special, truncation)
            ids = pre + a.ids + mid
            type_ids = [0] * len(ids)
            offsets = [(0, 0)] * len(pre) + a.offsets + [(0, 0)] * len(mid)
            seq = [None] * len(pre) + [0] * len(a.ids) + [None] * len(mid)
            words = [None] * len(pre) + (a.word_ids or []) + [None] * len(mid)
            if b is not None:
                ids += b.ids + post
                type_ids += [1] * (len(b.ids) + len(post))
                offsets += b.offsets + [(0, 0)] * len(post)
                seq += [1] * len(b.ids) + [None] * len(post)
                words += (b.word_ids or []) + [None] * len(post)
            out.append(Encoding(
                ids=ids,
                type_ids=type_ids,
                offsets=offsets if with_offsets or pretokenized else None,
                word_ids=words if pretokenized else None,
                sequence_ids=seq if with_offsets or pretokenized else None,
            ))
        return out

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.encode_batch([text], add_special_tokens=add_special_tokens)[0].ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        ids = [int(i) for i in ids]
        if skip_special_tokens:
            special = self.special_ids - {self.unk_id}  # an unknown piece is still content
            ids = [i for i in ids if i not in special]
        return self._decode_plain(ids)

    def decode_batch(self, batch: Sequence[Sequence[int]], skip_special_tokens: bool = True) -> list[str]:
        return [self.decode(ids, skip_special_tokens) for ids in batch]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, template={self.template!r})"


def check_vocab_fits(tokenizer: Tokenizer, vocab_size: int, where: str = "model.vocab_size") -> None:
    """Refuse a tokenizer whose ids would index past the model's embedding table."""
    if tokenizer.vocab_size > vocab_size:
        raise NlpfError(
            f"the tokenizer has {tokenizer.vocab_size} tokens but {where} is {vocab_size}: "
            f"ids up to {tokenizer.vocab_size - 1} would not fit the embedding table",
            hint=f"set {where}={tokenizer.vocab_size} (or larger), or train a smaller tokenizer (tokenizer.vocab_size)",
        )
