"""Model FLOPs utilisation of nlpf GPT training against this machine's matmul peak, measured in the same run.

The peak is the best FLOP/s of a 2048^3 matrix multiply in the same precision (measured before and after
the training steps; the higher is used). Model FLOPs per token follow `flops.train_flops_per_token`
(forward + backward, attention included). A step is prepare, forward, loss, backward, fused AdamW, zero_grad.

    python benchmarks/mfu.py                        # hidden 256, 4 layers, seq 256, batch 8, vocab 8000
    python benchmarks/mfu.py --hidden 512 --layers 8 --heads 8 --precision bf16-mixed
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from omegaconf import OmegaConf

from flops import matmul_peak, train_flops_per_token


def build(args):
    from framework.model import build_model
    from framework.training.init import init_weights
    from framework.training.optim import build_optimizer
    from plugins.objectives.causal_lm import CausalLM

    torch.manual_seed(0)
    cfg = OmegaConf.create({
        "model": dict(name="gpt", vocab_size=args.vocab, n_positions=args.seq, n_embd=args.hidden,
                      n_layer=args.layers, n_head=args.heads, dropout=0.0, attention_dropout=0.0),
        "head": dict(name="lm", tie_word_embeddings=True),
    })
    model = build_model(cfg)
    init_weights(model)  # as nlpf train does
    model.train()
    optim = OmegaConf.create(dict(name="adamw", lr=1e-4, weight_decay=0.01, betas=[0.9, 0.999], eps=1e-8))
    return model, build_optimizer(model, optim), CausalLM()


def seconds_per_step(model, opt, obj, args, autocast: bool) -> float:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=g)
    batch = obj.prepare({"input_ids": ids, "attention_mask": torch.ones_like(ids)})

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = obj.loss(obj.forward(model, batch), batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--precision", nargs="+", default=["float32", "bf16-mixed"], choices=["float32", "bf16-mixed"])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, opt, obj = build(args)
    per_token = train_flops_per_token(args.layers, args.hidden, args.vocab, args.seq)
    tokens = args.batch * args.seq
    print(f"GPT hidden {args.hidden}, {args.layers} layers, seq {args.seq}, batch {args.batch}, vocab {args.vocab}, "
          f"threads {args.threads}; {per_token / 1e6:.1f} MFLOP per training token\n")
    print("| precision | matmul peak GFLOP/s | step s | tokens/s | model GFLOP/s | MFU |")
    print("|---|---|---|---|---|---|")
    for precision in args.precision:
        dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float32
        before = matmul_peak("cpu", dtype)
        step = seconds_per_step(model, opt, obj, args, precision == "bf16-mixed")
        peak = max(before, matmul_peak("cpu", dtype))
        achieved = per_token * tokens / step
        print(f"| {precision} | {peak / 1e9:.1f} | {step:.3f} | {tokens / step:.0f} | {achieved / 1e9:.1f} | "
              f"{100 * achieved / peak:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
