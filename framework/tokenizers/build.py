"""Building, training (cached), saving and loading tokenizers by config."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterable

from omegaconf import DictConfig, OmegaConf

from framework.errors import NlpfError
from framework.tokenizers.base import Tokenizer

TOKENIZER_FILE = "tokenizer.yaml"
PATH_KEYS = ("model_file", "path")  # config keys that hold file paths, relative to the tokenizer directory


def _entry(name: str):
    from framework.plugins import registries

    return registries().tokenizer.get(name)


def _validated(cfg) -> DictConfig:
    from framework.config import validate_component

    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    return validate_component("tokenizer", node)


def _trainer_module(entry):
    """The builder's module, when it can train (defines `needs_training(cfg)` and `train(cfg, corpus_file, out_dir)`)."""
    fn = entry.build_fn()
    module = sys.modules.get(fn.__module__)
    if module is not None and hasattr(module, "needs_training") and hasattr(module, "train"):
        return module
    return None


def _write_corpus(corpus: Iterable[str] | str | os.PathLike, target: Path) -> str:
    """Copy the corpus (texts, or a text file) into `target`, one text per line; return its sha256."""
    digest = hashlib.sha256()
    if isinstance(corpus, (str, os.PathLike)):
        shutil.copyfile(corpus, target)
        with open(target, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    with open(target, "w", encoding="utf-8") as f:
        for text in corpus:
            line = " ".join(str(text).split()) + "\n"  # one text per line: newlines inside a text become spaces
            if line.strip():
                f.write(line)
                digest.update(line.encode("utf-8"))
    return digest.hexdigest()


def tokenizer_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    from framework.data.fetch import cache_root

    return Path(cache_dir) if cache_dir is not None else cache_root() / "tokenizers"


def build_tokenizer(cfg, corpus: Iterable[str] | str | os.PathLike | None = None,
                    cache_dir: str | os.PathLike | None = None) -> Tokenizer:
    """Build the tokenizer a config node describes. A tokenizer that needs training (sentencepiece without
    `model_file`) is trained on `corpus` (texts or a text file) once and cached under
    `cache_dir` (default `$NLPF_CACHE/tokenizers`) by a hash of its config and the corpus."""
    node = _validated(cfg)
    entry = _entry(node.name)
    trainer = _trainer_module(entry)
    if trainer is None or not trainer.needs_training(node):
        return entry.build_fn()(node)
    if corpus is None:
        raise NlpfError(
            f"tokenizer '{node.name}' must be trained but no corpus was given",
            hint="train it with `nlpf tokenizer train tokenizer=... data=... out=DIR` and set tokenizer.model_file, "
            "or let `nlpf train` train it on the configured data",
        )
    root = tokenizer_cache_dir(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".train-") as tmp:
        corpus_file = Path(tmp) / "corpus.txt"
        corpus_sha = _write_corpus(corpus, corpus_file)
        if corpus_file.stat().st_size == 0:
            raise NlpfError(f"cannot train tokenizer '{node.name}': the corpus is empty",
                            hint="check the data config: the training split has no text")
        from framework.plugins import code_identity

        # the trainer's code and its plugin's version count too: a changed trainer must not reuse an old result
        key_json = json.dumps([OmegaConf.to_container(node, resolve=True), str(entry.origin),
                               code_identity(trainer.__name__)], sort_keys=True)
        key = hashlib.sha256(f"{key_json}\n{corpus_sha}".encode()).hexdigest()[:20]
        target = root / f"{node.name}-{key}"
        if (target / TOKENIZER_FILE).is_file():
            return load_tokenizer(target)
        out = Path(tmp) / "out"
        out.mkdir()
        trained = trainer.train(node, corpus_file, out)
        save_tokenizer(trained, out)
        try:
            os.replace(out, target)
        except OSError:  # another process finished first; its result is as good as ours
            pass
    return load_tokenizer(target)


def save_tokenizer(tokenizer: Tokenizer, directory: str | os.PathLike) -> Path:
    """Write the tokenizer's files and `tokenizer.yaml` (its config node, paths relative to `directory`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    node = tokenizer.save(directory)
    (directory / TOKENIZER_FILE).write_text(OmegaConf.to_yaml(OmegaConf.create(node)))
    return directory / TOKENIZER_FILE


def load_tokenizer(directory: str | os.PathLike) -> Tokenizer:
    """Rebuild a tokenizer saved by `save_tokenizer` (relative paths resolve against `directory`)."""
    directory = Path(directory)
    path = directory / TOKENIZER_FILE
    if not path.is_file():
        raise NlpfError(f"no {TOKENIZER_FILE} in '{directory}'",
                        hint="pass a directory written by save_tokenizer, `nlpf tokenizer train` or a checkpoint's tokenizer/")
    node = OmegaConf.load(path)
    for key in PATH_KEYS:
        value = node.get(key)
        if isinstance(value, str) and not os.path.isabs(value):
            node[key] = str((directory / value).resolve())
    node = _validated(node)
    return _entry(node.name).build_fn()(node)
