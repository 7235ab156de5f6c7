"""A word-level tokenizer: words and punctuation marks, each one id; unknown words become <unk>.

nlpf trains it on the run's corpus the first time (`needs_training` + `train`, cached by config and
corpus hash) and reloads it from the `vocab.txt` it saves into checkpoints.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Sequence

from framework.errors import NlpfError
from framework.tokenizers.base import Tokenizer

SPECIALS = ("<pad>", "<unk>", "<s>", "</s>", "<mask>", "<cls>", "<sep>")
WORD = re.compile(r"\w+|[^\w\s]")
VOCAB_FILE = "vocab.txt"


class WordTokenizer(Tokenizer):
    name = "word_level"

    def __init__(self, vocab: Sequence[str], lowercase: bool = True, template: str = "bos_eos"):
        if list(vocab[:len(SPECIALS)]) != list(SPECIALS):
            raise NlpfError("word_level vocabulary must start with the special tokens " + " ".join(SPECIALS),
                            hint="retrain it (set tokenizer.path=null) or fix the vocab.txt")
        self.vocab = list(vocab)
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        self.lowercase = lowercase
        self.template = template
        self.vocab_size = len(self.vocab)
        self.pad_id, self.unk_id, self.bos_id, self.eos_id, self.mask_id, self.cls_id, self.sep_id = range(len(SPECIALS))
        self._template_ids(pair=True)  # fail early on an unknown template

    def _encode_plain(self, texts, with_offsets):
        out = []
        for text in texts:
            matches = list(WORD.finditer(text))
            words = [m.group().lower() if self.lowercase else m.group() for m in matches]
            ids = [self.ids.get(w, self.unk_id) for w in words]
            out.append((ids, [m.span() for m in matches] if with_offsets else None))
        return out

    def _decode_plain(self, ids) -> str:
        return " ".join(self.vocab[i] for i in ids if 0 <= i < self.vocab_size)

    def token_to_id(self, token: str) -> int | None:
        return self.ids.get(token)

    def id_to_token(self, index: int) -> str | None:
        return self.vocab[index] if 0 <= index < self.vocab_size else None

    def save(self, directory) -> dict:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / VOCAB_FILE).write_text("\n".join(self.vocab) + "\n", encoding="utf-8")
        return {"name": self.name, "path": VOCAB_FILE, "vocab_size": self.vocab_size,
                "lowercase": self.lowercase, "template": self.template}

    def fingerprint(self) -> str:
        digest = hashlib.sha256("\n".join(self.vocab).encode()).hexdigest()[:16]
        return f"word_level:{digest}:{self.lowercase}:{self.template}"


def needs_training(cfg) -> bool:
    return cfg.path is None


def train(cfg, corpus_file, out_dir) -> WordTokenizer:
    """Keep the `vocab_size - 7` most frequent words seen at least `min_frequency` times (ties by word)."""
    counts: Counter[str] = Counter()
    with open(corpus_file, encoding="utf-8") as f:
        for line in f:
            counts.update(w.lower() if cfg.lowercase else w for w in WORD.findall(line))
    room = int(cfg.vocab_size) - len(SPECIALS)
    if room < 1:
        raise NlpfError(f"tokenizer.vocab_size={cfg.vocab_size} leaves no room for words after the "
                        f"{len(SPECIALS)} special tokens", hint=f"set tokenizer.vocab_size above {len(SPECIALS)}")
    ranked = sorted((w for w, n in counts.items() if n >= cfg.min_frequency and w not in SPECIALS),
                    key=lambda w: (-counts[w], w))
    return WordTokenizer([*SPECIALS, *ranked[:room]], cfg.lowercase, cfg.template)


def build(cfg) -> WordTokenizer:
    """Word-level tokenizer.

    Args:
        cfg.path: vocab.txt to load (one token per line, the 7 special tokens first); null: trained on the corpus.
        cfg.vocab_size: the most tokens to keep when training, special tokens included.
        cfg.min_frequency: words seen fewer times in the corpus become <unk>.
        cfg.lowercase: lower-case words before looking them up.
        cfg.template: special tokens around each example: cls_sep, eos, bos_eos or none.
    """
    if cfg.path is None:
        raise NlpfError("tokenizer 'word_level' has no vocabulary yet",
                        hint="build it with framework.tokenizers.build_tokenizer(cfg, corpus), or set tokenizer.path")
    path = Path(cfg.path)
    if not path.is_file():
        raise NlpfError(f"tokenizer.path '{path}' does not exist", hint="point it at a vocab.txt, or set it to null to train")
    vocab = path.read_text(encoding="utf-8").splitlines()
    return WordTokenizer(vocab, cfg.lowercase, cfg.template)
