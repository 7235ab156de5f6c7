"""GPT-2 124M-size training in bf16 on one GPU: tokens/s and model FLOPs utilisation (target >= 45% on
H100/H200-class GPUs). Prepared to run unattended; checks itself (finite, falling loss; parameter count;
measured matmul peak) and exits non-zero when a check fails.

    python benchmarks/gpu_gpt2.py                           # cuda, batch 16 x 1024, torch.compile, 30 steps
    python benchmarks/gpu_gpt2.py --no-compile --steps 20
    python benchmarks/gpu_gpt2.py --device cpu --steps 2    # smoke test (small batch and sequence on CPU)

The model is nlpf's GPT (12 layers, hidden 768, 12 heads, 1024 positions, tied LM head), vocabulary
50304 (GPT-2's 50257 rounded up to a multiple of 64, as nanoGPT does, so the LM head matmul tiles well).
A step is causal-LM loss under bf16 autocast, backward, fused AdamW, zero_grad; no host sync inside the
timed steps except the final synchronize. MFU = model FLOPs/s / peak, against both the bf16 matmul peak
measured in this run and the nominal dense bf16 peak given by --nominal-tflops (H100/H200 SXM: 989).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, when run from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))
from flops import matmul_peak, train_flops_per_token  # noqa: E402

GPT2 = dict(layers=12, hidden=768, heads=12, vocab=50304, positions=1024)
GPT2_NON_EMBEDDING = 12 * (12 * 768 ** 2 + 13 * 768) + 2 * 768  # 85,056,000: checks the build


def build(args, device: str):
    from framework.model import build_model
    from framework.training.init import init_weights
    from framework.training.optim import build_optimizer
    from plugins.objectives.causal_lm import CausalLM

    torch.manual_seed(0)
    cfg = OmegaConf.create({
        "model": dict(name="gpt", vocab_size=GPT2["vocab"], n_positions=GPT2["positions"], n_embd=GPT2["hidden"],
                      n_layer=GPT2["layers"], n_head=GPT2["heads"], dropout=0.0, attention_dropout=0.0),
        "head": dict(name="lm", tie_word_embeddings=True),
    })
    model = build_model(cfg)
    init_weights(model)  # as nlpf train does (GPT-2's normal(0.02) init)
    model = model.to(device).train()
    optim = OmegaConf.create(dict(name="adamw", lr=3e-4, weight_decay=0.1, betas=[0.9, 0.95], eps=1e-8))
    return model, build_optimizer(model, optim), CausalLM()


def check_size(model) -> None:
    embedding = {id(p) for n, p in model.named_parameters() if "embeddings" in n}
    non_embedding = sum(p.numel() for p in model.parameters() if id(p) not in embedding)
    if non_embedding != GPT2_NON_EMBEDDING:
        sys.exit(f"FAIL: {non_embedding:,} non-embedding parameters, GPT-2 124M has {GPT2_NON_EMBEDDING:,}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=None, help="default 16 on cuda, 1 on cpu")
    p.add_argument("--seq", type=int, default=None, help="default 1024 on cuda, 64 on cpu")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=None, help="default 10 on cuda (compilation), 1 on cpu")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--nominal-tflops", type=float, default=989.0)
    p.add_argument("--mfu-target", type=float, default=45.0)
    args = p.parse_args()
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        sys.exit("FAIL: no CUDA device (use --device cpu for a smoke test)")
    batch, seq = args.batch or (16 if cuda else 1), args.seq or (1024 if cuda else 64)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    compile_ = cuda and not args.no_compile
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    model, opt, obj = build(args, args.device)
    check_size(model)

    def loss_of(input_ids, labels):  # compiled as one graph with the loss, so the cross-entropy fuses too
        return obj.loss(model(input_ids), {"labels": labels})

    loss_fn = torch.compile(loss_of) if compile_ else loss_of
    g = torch.Generator().manual_seed(0)
    # a fixed batch: the loss must fall quickly when the model fits it (a correctness check of the step)
    ids = torch.randint(0, 50257, (batch, seq), generator=g)
    if cuda:
        ids = ids.pin_memory()
    ids = ids.to(args.device, non_blocking=True)
    prepared = obj.prepare({"input_ids": ids})

    def step() -> torch.Tensor:
        with torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16):
            loss = loss_fn(prepared["input_ids"], prepared["labels"])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    first = step()
    for _ in range(max(warmup - 1, 0)):
        step()
    sync()
    losses = []
    start = time.perf_counter()
    for _ in range(args.steps):
        losses.append(step())
    sync()
    elapsed = time.perf_counter() - start
    losses = torch.stack(losses).float().cpu()

    peak = matmul_peak(args.device, torch.bfloat16, size=8192 if cuda else 1024)
    per_token = train_flops_per_token(GPT2["layers"], GPT2["hidden"], GPT2["vocab"], seq)
    tokens_per_s = batch * seq * args.steps / elapsed
    achieved = per_token * tokens_per_s
    mfu_measured, mfu_nominal = 100 * achieved / peak, 100 * achieved / (args.nominal_tflops * 1e12)
    name = torch.cuda.get_device_name() if cuda else "cpu"
    print(f"device {name}, torch {torch.__version__}, compile {compile_}, batch {batch} x {seq}, {args.steps} steps")
    print("| tokens/s | step ms | model TFLOP/s | bf16 matmul peak (measured) TFLOP/s | MFU vs measured | "
          f"MFU vs nominal {args.nominal_tflops:.0f} | first loss | last loss |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {tokens_per_s:,.0f} | {1000 * elapsed / args.steps:.1f} | {achieved / 1e12:.1f} | {peak / 1e12:.1f} | "
          f"{mfu_measured:.1f}% | {mfu_nominal:.1f}% | {first.item():.3f} | {losses[-1].item():.3f} |")
    failures = []
    if not torch.isfinite(losses).all():
        failures.append("non-finite loss")
    if not losses[-1] < first.float().cpu():
        failures.append(f"the loss did not fall on a repeated batch ({first.item():.3f} -> {losses[-1].item():.3f})")
    if cuda and mfu_nominal < args.mfu_target:
        failures.append(f"MFU {mfu_nominal:.1f}% below the {args.mfu_target:.0f}% target")
    for f in failures:
        print(f"FAIL: {f}")
    if cuda and failures:
        sys.exit(1)
    if not failures:
        print("OK")


if __name__ == "__main__":
    main()
