"""The byte tokenizer: UTF-8 bytes, shifted past a few special tokens. No vocabulary, no training."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from framework.tokenizers.base import Tokenizer

SPECIALS = ("<pad>", "<unk>", "<s>", "</s>", "<mask>", "<cls>", "<sep>")
OFFSET = len(SPECIALS)


class ByteTokenizer(Tokenizer):
    name = "byte"

    def __init__(self, template: str = "cls_sep", num_sentinels: int = 0):
        self.template = template
        self.num_sentinels = num_sentinels
        self.pad_id, self.unk_id, self.bos_id, self.eos_id, self.mask_id, self.cls_id, self.sep_id = range(OFFSET)
        self.sentinel_ids = [OFFSET + 256 + i for i in range(num_sentinels)]
        self.vocab_size = OFFSET + 256 + num_sentinels
        self._template_ids(pair=True)  # fail early on an unknown template

    def _encode_plain(self, texts: Sequence[str], with_offsets: bool):
        out = []
        for text in texts:
            raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
            ids = (raw.astype(np.int64) + OFFSET).tolist()
            offsets = None
            if with_offsets:
                # every byte maps to the character it belongs to (continuation bytes are 10xxxxxx)
                char = np.cumsum((raw & 0xC0) != 0x80) - 1
                offsets = list(zip(char.tolist(), (char + 1).tolist()))
            out.append((ids, offsets))
        return out

    def _decode_plain(self, ids: Sequence[int]) -> str:
        return bytes(i - OFFSET for i in ids if OFFSET <= i < OFFSET + 256).decode("utf-8", errors="replace")

    def token_to_id(self, token: str) -> int | None:
        if token in SPECIALS:
            return SPECIALS.index(token)
        if token.startswith("<extra_id_") and token.endswith(">"):
            n = int(token[len("<extra_id_"):-1])
            return self.sentinel_ids[n] if n < self.num_sentinels else None
        raw = token.encode("utf-8")
        return raw[0] + OFFSET if len(raw) == 1 else None

    def id_to_token(self, index: int) -> str | None:
        if 0 <= index < OFFSET:
            return SPECIALS[index]
        if OFFSET <= index < OFFSET + 256:
            return bytes([index - OFFSET]).decode("latin-1")
        if index in self.sentinel_ids:
            return f"<extra_id_{index - OFFSET - 256}>"
        return None

    def save(self, directory) -> dict:
        Path(directory).mkdir(parents=True, exist_ok=True)
        return {"name": "byte", "template": self.template, "num_sentinels": self.num_sentinels}

    def fingerprint(self) -> str:
        return f"byte:{self.template}:{self.num_sentinels}"


def build(cfg) -> ByteTokenizer:
    """Byte tokenizer.

    Args (cfg fields):
        template: special tokens around each example: cls_sep, eos, bos_eos or none.
        num_sentinels: T5 sentinel tokens appended after the 256 bytes.
    """
    return ByteTokenizer(template=cfg.template, num_sentinels=cfg.num_sentinels)
