"""Greedy generation tokens/s: nlpf beside `transformers` `generate`, same weights, one run.

A random-weight GPT2LMHeadModel is saved with save_pretrained, imported with `framework.hf.import_hf`,
and both generate the same number of new tokens (min_new_tokens = max_new_tokens) from the same
prompts; the script checks that they produce the same tokens before timing.

    python benchmarks/generation.py                      # default: 4 layers, 256 hidden, GPT-2 vocabulary
    python benchmarks/generation.py --layers 6 --hidden 768 --heads 12 --dtype bfloat16
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def build(args, root: Path):
    import transformers

    import framework
    from framework.hf import import_hf

    cfg = transformers.GPT2Config(vocab_size=args.vocab, n_positions=args.prompt_len + args.new_tokens + 8,
                                  n_embd=args.hidden, n_layer=args.layers, n_head=args.heads)
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    hf.save_pretrained(root / "hf")
    import_hf(root / "hf", root / "nlpf")
    pipe = framework.load(root / "nlpf")
    dtype = getattr(torch, args.dtype)
    hf.to(dtype)
    pipe.model.to(dtype)
    return hf, pipe


def timed(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        hf, pipe = build(args, Path(tmp))
    eos = hf.config.eos_token_id
    n = args.new_tokens
    print(f"GPT-2 {args.layers} layers, hidden {args.hidden}, vocab {args.vocab}, {args.dtype}, "
          f"prompt {args.prompt_len} tokens, {n} new tokens, {args.threads} threads, torch {torch.__version__}")
    print(f"{'batch':>5} {'nlpf tok/s':>11} {'transformers tok/s':>19} {'ratio':>6}  same tokens")
    for batch in args.batch_sizes:
        g = torch.Generator().manual_seed(batch)
        ids = torch.randint(0, args.vocab, (batch, args.prompt_len), generator=g)
        mask = torch.ones_like(ids)

        def ours():
            return pipe.generate_tokens(ids, mask, max_new_tokens=n, min_new_tokens=n, eos_token_id=eos)

        def theirs():
            with torch.inference_mode():
                return hf.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                   num_beams=1, eos_token_id=eos, pad_token_id=eos)

        same = [g.token_ids for hyps in ours() for g in hyps] == theirs()[:, args.prompt_len:].tolist()
        t_ours, t_theirs = timed(ours, args.repeats), timed(theirs, args.repeats)
        tokens = batch * n
        print(f"{batch:>5} {tokens / t_ours:>11.1f} {tokens / t_theirs:>19.1f} {t_theirs / t_ours:>5.2f}x  {same}")


if __name__ == "__main__":
    main()
