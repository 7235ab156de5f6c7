"""Greedy generation tokens/s: nlpf beside `transformers` `generate`, same weights, one run.

A random-weight GPT2LMHeadModel (or T5ForConditionalGeneration) is saved with save_pretrained, imported
with `framework.hf.import_hf`, and both generate the same number of new tokens from the same prompts with
no end-of-sequence token (so both run exactly --new-tokens steps and no logits processor runs); the
script checks that they produce the same tokens before timing.

    python benchmarks/generation.py                      # all presets below
    python benchmarks/generation.py --presets gpt2-vocab --dtype bfloat16
    python benchmarks/generation.py --presets custom --layers 6 --hidden 768 --heads 12 [--arch t5]

Presets: `tiny` is the shape of the `gpt_tiny` config with the byte tokenizer (4 layers, hidden 128,
263 ids); `gpt2-vocab` keeps 4 layers but uses hidden 256 and GPT-2's 50257-token vocabulary, where
the output projection (a memory-bound pass over a 51 MB matrix per step) dominates. `t5-tiny` is the
`t5_tiny` config's shape (2+2 layers, d_model 128, d_ff 256, relu, tied head) with the byte vocabulary,
`t5-vocab` T5's 32128-token vocabulary with d_model 256, 4+4 layers; for T5 the prompt is the encoder's
input and the decoder generates --new-tokens tokens.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


PRESETS = {
    "tiny": dict(arch="gpt2", layers=4, hidden=128, heads=4, vocab=263),
    "gpt2-vocab": dict(arch="gpt2", layers=4, hidden=256, heads=4, vocab=50257),
    "t5-tiny": dict(arch="t5", layers=2, hidden=128, heads=4, vocab=263),
    "t5-vocab": dict(arch="t5", layers=4, hidden=256, heads=4, vocab=32128),
}


def hf_model(args):
    import transformers

    torch.manual_seed(0)
    if args.arch == "t5":
        cfg = transformers.T5Config(vocab_size=args.vocab, d_model=args.hidden, d_kv=args.hidden // args.heads,
                                    d_ff=2 * args.hidden, num_layers=args.layers, num_heads=args.heads,
                                    feed_forward_proj="relu", dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
                                    decoder_start_token_id=0)
        return transformers.T5ForConditionalGeneration(cfg).eval()
    cfg = transformers.GPT2Config(vocab_size=args.vocab, n_positions=args.prompt_len + args.new_tokens + 8,
                                  n_embd=args.hidden, n_layer=args.layers, n_head=args.heads,
                                  bos_token_id=args.vocab - 1, eos_token_id=args.vocab - 1)
    return transformers.GPT2LMHeadModel(cfg).eval()


def build(args, root: Path):
    import framework
    from framework.hf import import_hf

    hf = hf_model(args)
    hf.save_pretrained(root / "hf")
    import_hf(root / "hf", root / "nlpf")
    pipe = framework.load(root / "nlpf")
    dtype = getattr(torch, args.dtype)
    hf.to(dtype)
    pipe.model.to(dtype)
    return hf, pipe


def timed_pair(a, b, repeats: int, clock=time.perf_counter) -> tuple[float, float]:
    """Best time of each, runs interleaved so that load from other processes hits both alike."""
    a(), b()  # warm up
    best_a = best_b = float("inf")
    for _ in range(repeats):
        for fn, which in ((a, "a"), (b, "b")):
            start = clock()
            fn()
            elapsed = clock() - start
            if which == "a":
                best_a = min(best_a, elapsed)
            else:
                best_b = min(best_b, elapsed)
    return best_a, best_b


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=list(PRESETS), choices=[*PRESETS, "custom"])
    p.add_argument("--arch", default="gpt2", choices=["gpt2", "t5"], help="custom preset")
    p.add_argument("--layers", type=int, default=4, help="custom preset")
    p.add_argument("--hidden", type=int, default=256, help="custom preset")
    p.add_argument("--heads", type=int, default=4, help="custom preset")
    p.add_argument("--vocab", type=int, default=50257, help="custom preset")
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--cpu-time", action="store_true",
                   help="time by this process's CPU time instead of wall time: on a shared machine it leaves out "
                        "the time other jobs hold the core (use with --threads 1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for preset in args.presets:
        run(argparse.Namespace(**{**vars(args), **PRESETS.get(preset, {})}))
        print()


def run(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hf, pipe = build(args, Path(tmp))
    hf.generation_config.eos_token_id = None  # no end-of-sequence: every run makes exactly n tokens
    n = args.new_tokens
    name = "T5" if args.arch == "t5" else "GPT-2"
    print(f"{name} {args.layers} layers, hidden {args.hidden}, vocab {args.vocab}, {args.dtype}, "
          f"prompt {args.prompt_len} tokens, {n} new tokens, {args.threads} threads, torch {torch.__version__}"
          + (", CPU time" if args.cpu_time else ""))
    print(f"{'batch':>5} {'nlpf tok/s':>11} {'transformers tok/s':>19} {'ratio':>6}  same tokens")
    for batch in args.batch_sizes:
        g = torch.Generator().manual_seed(batch)
        ids = torch.randint(0, args.vocab, (batch, args.prompt_len), generator=g)
        mask = torch.ones_like(ids)

        def ours():
            return pipe.generate_tokens(ids, mask, max_new_tokens=n, eos_token_id=[])

        def theirs():
            with torch.inference_mode():
                return hf.generate(ids, attention_mask=mask, max_new_tokens=n, do_sample=False, num_beams=1,
                                   pad_token_id=0)

        skip = 1 if args.arch == "t5" else args.prompt_len  # the decoder start token / the prompt
        same = [g.token_ids for hyps in ours() for g in hyps] == theirs()[:, skip:].tolist()
        t_ours, t_theirs = timed_pair(ours, theirs, args.repeats, time.process_time if args.cpu_time else time.perf_counter)
        tokens = batch * n
        print(f"{batch:>5} {tokens / t_ours:>11.1f} {tokens / t_theirs:>19.1f} {t_theirs / t_ours:>5.2f}x  {same}")


if __name__ == "__main__":
    main()
