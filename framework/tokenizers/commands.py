"""`nlpf tokenizer train tokenizer=NAME data=NAME out=DIR [key=value ...]`: train (or just build) a tokenizer
on the training split of the configured data and save it to DIR.

DIR must be new, empty or an earlier tokenizer directory (checked before training); it is written like a
checkpoint, into a temporary directory beside it that is renamed into place when complete."""
from __future__ import annotations

import os
import time
from pathlib import Path

from framework.errors import NlpfError, did_you_mean

USAGE = "nlpf tokenizer train tokenizer=NAME data=NAME out=DIR [tokenizer.vocab_size=N ...]"


def _check_out(out: Path) -> None:
    """Refuse an out= that holds anything but an earlier tokenizer: its tokenizer.yaml and the files it names."""
    import yaml

    from framework.atomic import check_replaceable  # not framework.checkpoint: that imports torch
    from framework.tokenizers.build import PATH_KEYS, TOKENIZER_FILE

    if out.exists() and not out.is_dir():
        raise NlpfError(f"out={out} exists and is not a directory", hint="choose a new or empty directory for out=")
    ours = {TOKENIZER_FILE}
    try:
        node = yaml.safe_load((out / TOKENIZER_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        node = None
    if isinstance(node, dict):
        for key in PATH_KEYS:
            value = node.get(key)
            if isinstance(value, str) and value and not os.path.isabs(value):
                first = Path(value).parts[0]
                if first not in (".", ".."):
                    ours.add(first)
    check_replaceable(out, ours, "a tokenizer directory")


def tokenizer_command(args: list[str], ctx) -> int:
    from framework.atomic import atomic_directory
    from framework.config import compose, validate_component
    from framework.data.pipeline import build_source, corpus_texts
    from framework.tokenizers.build import build_tokenizer, save_tokenizer

    if not args or args[0] != "train":
        got = args[0] if args else ""
        raise NlpfError(f"unknown tokenizer action '{got}'." + did_you_mean(got, ["train"]) if got else "missing action",
                        hint=f"usage: {USAGE}")
    out, overrides = None, []
    for a in args[1:]:
        if a.startswith("out="):
            out = a.split("=", 1)[1]
        else:
            overrides.append(a)
    if not out:
        raise NlpfError("missing out=DIR", hint=f"usage: {USAGE}")
    cfg = compose(overrides)
    tok_cfg = validate_component("tokenizer", cfg.tokenizer)
    _check_out(Path(out))  # before the (slow) training
    source = build_source(cfg.data)
    start = time.perf_counter()
    tokenizer = build_tokenizer(tok_cfg, corpus=corpus_texts(source))
    seconds = time.perf_counter() - start
    _check_out(Path(out))  # again: files may have appeared while it trained
    with atomic_directory(Path(out)) as tmp:
        save_tokenizer(tokenizer, tmp)
    sample = "The quick brown fox jumps over the lazy dog."
    print(f"tokenizer '{tok_cfg.name}' on data '{cfg.data.name}': {tokenizer.vocab_size} tokens in {seconds:.1f}s")
    print(f"saved to {Path(out).resolve()} (use it with {_reuse_hint(Path(out))}"
          f"framework.tokenizers.load_tokenizer('{out}'))")
    print(f"example: {sample!r} -> {tokenizer.encode(sample)}")
    return 0


def _reuse_hint(out: Path) -> str:
    """The overrides that point a run at the saved files: the tokenizer.yaml fields that name a file in `out`
    (sentencepiece's model_file, a plugin tokenizer's path)."""
    from omegaconf import OmegaConf

    saved = OmegaConf.load(out / "tokenizer.yaml") if (out / "tokenizer.yaml").is_file() else {}
    keys = [f"tokenizer.{k}={(out / str(v)).resolve()}" for k, v in saved.items()
            if k != "name" and isinstance(v, str) and v and (out / v).exists()]
    return " ".join(f"`{k}`" for k in keys) + " or " if keys else ""

