"""Tokenization throughput on the Wikipedia corpus (conf/data/wikipedia.yaml): nlpf's tokenizer layer next to
the Hugging Face `tokenizers` library called directly on the same texts with the same tokenizer.json.

    python benchmarks/tokenization.py [--repeat 3] [--limit N] [--sentencepiece-vocab 8000]

Prints tokens/s for each tokenizer, the ratio nlpf / library for the MiniLM tokenizer, and the time
`build_datasets` takes to tokenize + cache the corpus (first run) and to reopen the cache (second run).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time


def best_of(fn, repeat: int) -> tuple[float, int]:
    best, tokens = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        tokens = fn()
        best = min(best, time.perf_counter() - start)
    return best, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    parser.add_argument("--sentencepiece-vocab", type=int, default=8000)
    args = parser.parse_args()

    from tokenizers import Tokenizer as HfTokenizer

    from framework.config import compose
    from framework.data.pipeline import build_datasets, build_source, corpus_texts
    from framework.tokenizers import build_tokenizer

    source = build_source(compose(["data=wikipedia"]).data)
    texts = [ex["text"] for part in source.splits().values() for ex in part][: args.limit]
    chars = sum(map(len, texts))
    print(f"corpus: {len(texts)} Wikipedia extracts, {chars / 1e6:.2f} M characters; "
          f"best of {args.repeat}; RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'default')}, "
          f"{os.cpu_count()} CPUs")

    minilm = build_tokenizer(compose(["tokenizer=minilm"]).tokenizer)
    raw = HfTokenizer.from_file(str(minilm.source))
    raw.no_padding()
    raw.no_truncation()

    rows = []

    def library():
        return sum(len(e.ids) for e in raw.encode_batch(texts))

    def layer(tok):
        return lambda: sum(len(e.ids) for e in tok.encode_batch(texts))

    # interleaved, so that both see the same load on a shared machine
    lib_best, ours_best = (float("inf"), 0), (float("inf"), 0)
    for _ in range(args.repeat):
        lib_best = min(lib_best, best_of(library, 1))
        ours_best = min(ours_best, best_of(layer(minilm), 1))
    rows.append(("tokenizers library, MiniLM tokenizer.json", lib_best[1], lib_best[0]))
    rows.append(("nlpf hf (MiniLM)", ours_best[1], ours_best[0]))
    with tempfile.TemporaryDirectory() as tmp:
        spm_cfg = compose(["tokenizer=sentencepiece_unigram", f"tokenizer.vocab_size={args.sentencepiece_vocab}"]).tokenizer
        start = time.perf_counter()
        spm = build_tokenizer(spm_cfg, corpus=corpus_texts(source), cache_dir=tmp)
        print(f"sentencepiece unigram {args.sentencepiece_vocab} trained on the training split in "
              f"{time.perf_counter() - start:.1f}s")
        seconds, tokens = best_of(layer(spm), args.repeat)
        rows.append((f"nlpf sentencepiece (unigram {args.sentencepiece_vocab})", tokens, seconds))
    byte = build_tokenizer(compose(["tokenizer=byte"]).tokenizer)
    seconds, tokens = best_of(layer(byte), args.repeat)
    rows.append(("nlpf byte", tokens, seconds))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'tokenizer'.ljust(width)}  {'tokens':>10}  {'seconds':>8}  {'tokens/s':>12}")
    for name, tokens, seconds in rows:
        print(f"{name.ljust(width)}  {tokens:>10,}  {seconds:>8.3f}  {tokens / seconds:>12,.0f}")
    lib, ours = rows[0], rows[1]
    print(f"\nnlpf hf / tokenizers library throughput: {(ours[1] / ours[2]) / (lib[1] / lib[2]):.2f}")

    import framework.data.collate  # noqa: F401 - imports torch, which a training run has loaded anyway

    with tempfile.TemporaryDirectory() as cache:
        data_cfg = compose(["data=wikipedia"]).data
        start = time.perf_counter()
        ds = build_datasets(data_cfg, minilm, "lm", 128, cache_dir=cache, source=source)
        first = time.perf_counter() - start
        start = time.perf_counter()
        build_datasets(data_cfg, minilm, "lm", 128, cache_dir=cache, source=source)
        second = time.perf_counter() - start
        tokens = sum(d.num_tokens for d in ds.values())
        print(f"build_datasets (lm, MiniLM): tokenize + write cache {first:.2f}s ({tokens:,} tokens), "
              f"reopen cache {second:.3f}s")


if __name__ == "__main__":
    main()
