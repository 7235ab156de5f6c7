"""`nlpf tokenizer train tokenizer=NAME data=NAME out=DIR [key=value ...]`: train (or just build) a tokenizer
on the training split of the configured data and save it to DIR."""
from __future__ import annotations

import time
from pathlib import Path

from framework.errors import NlpfError, did_you_mean

USAGE = "nlpf tokenizer train tokenizer=NAME data=NAME out=DIR [tokenizer.vocab_size=N ...]"


def tokenizer_command(args: list[str], ctx) -> int:
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
    source = build_source(cfg.data)
    start = time.perf_counter()
    tokenizer = build_tokenizer(tok_cfg, corpus=corpus_texts(source))
    seconds = time.perf_counter() - start
    path = save_tokenizer(tokenizer, out)
    sample = "The quick brown fox jumps over the lazy dog."
    print(f"tokenizer '{tok_cfg.name}' on data '{cfg.data.name}': {tokenizer.vocab_size} tokens in {seconds:.1f}s")
    print(f"saved to {Path(out).resolve()} (use it with tokenizer.model_file=... or framework.tokenizers.load_tokenizer('{out}'))")
    print(f"example: {sample!r} -> {tokenizer.encode(sample)}")
    return 0
