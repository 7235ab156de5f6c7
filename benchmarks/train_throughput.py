"""Training tokens/s and peak memory: nlpf beside `transformers`, same weights, same batches, one run.

For each family a random-weight `transformers` model (BertForMaskedLM, GPT2LMHeadModel,
T5ForConditionalGeneration) is saved with save_pretrained and imported with `framework.hf.import_hf`,
so both sides have identical sizes and start from identical weights. Batches are prepared once by
nlpf's objective (masked LM, causal LM, span corruption) and fed to both. A step is forward, loss,
backward, AdamW step, zero_grad. nlpf uses its training optimizer (`framework.training.optim`),
`transformers` a plain `torch.optim.AdamW` with the same hyperparameters (what a hand-written loop or
the Trainer's `adamw_torch` gets; `--hf-fused` gives it the fused kernel too).
Steps are timed interleaved (nlpf, transformers, nlpf, ...) after warmup, so background load hits both;
the best group of each side counts.

    python benchmarks/train_throughput.py --family gpt --size small
    python benchmarks/train_throughput.py --family bert t5 --size medium --precision float32
    python benchmarks/train_throughput.py --family all --size small --threads 2
    python benchmarks/train_throughput.py --family gpt --size small --compile --warmup 2
    python benchmarks/train_throughput.py --family all --size small --threads 1 --cpu-time   # a shared machine

Sizes: small = hidden 256, 4 layers, 4 heads, sequence 256, batch 8; medium = hidden 512, 8 layers,
8 heads, sequence 256, batch 8 (T5: that many encoder and decoder layers). FFN 4x hidden, dropout 0.
`--keep-freed-memory` applies `nlpf train`'s default `trainer.keep_freed_memory` (glibc keeps freed memory instead
of unmapping it) to this whole process, so to both sides alike; without it both run with glibc's defaults.
Peak memory is the growth of the resident set over three steps (peak minus the size before them, the peak
reset after building), measured in a fresh subprocess per side.
"""
from __future__ import annotations

import argparse
import json
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SIZES = {
    "small": dict(hidden=256, layers=4, heads=4, seq=256, batch=8),
    "medium": dict(hidden=512, layers=8, heads=8, seq=256, batch=8),
}
FAMILIES = ("bert", "gpt", "t5")
PAD, EOS, CLS, SEP, MASK = 0, 1, 2, 3, 4  # special ids of the synthetic vocabulary
N_SENTINELS = 100  # T5: the last 100 ids are <extra_id_N>


def hf_model(family: str, s: dict, vocab: int):
    import transformers

    h, n, heads, seq = s["hidden"], s["layers"], s["heads"], s["seq"]
    if family == "bert":
        cfg = transformers.BertConfig(vocab_size=vocab, hidden_size=h, num_hidden_layers=n, num_attention_heads=heads,
                                      intermediate_size=4 * h, max_position_embeddings=seq, hidden_dropout_prob=0.0,
                                      attention_probs_dropout_prob=0.0, pad_token_id=PAD)
        return transformers.BertForMaskedLM(cfg)
    if family == "gpt":
        cfg = transformers.GPT2Config(vocab_size=vocab, n_positions=seq, n_embd=h, n_layer=n, n_head=heads,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                      bos_token_id=EOS, eos_token_id=EOS)
        return transformers.GPT2LMHeadModel(cfg)
    cfg = transformers.T5Config(vocab_size=vocab, d_model=h, d_kv=h // heads, d_ff=4 * h, num_layers=n,
                                num_heads=heads, dropout_rate=0.0, feed_forward_proj="relu",
                                pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD)
    return transformers.T5ForConditionalGeneration(cfg)


def objective(family: str, vocab: int):
    from plugins.objectives.causal_lm import CausalLM
    from plugins.objectives.masked_lm import MaskedLM
    from plugins.objectives.span_corruption import SpanCorruption

    if family == "bert":
        return MaskedLM(MASK, vocab, [PAD, EOS, CLS, SEP, MASK])
    if family == "gpt":
        return CausalLM()
    return SpanCorruption(list(range(vocab - 1, vocab - 1 - N_SENTINELS, -1)), PAD, EOS)


def batches(family: str, s: dict, vocab: int, count: int, obj) -> list[dict]:
    """`count` prepared batches of packed blocks (no padding in the input, as in nlpf pretraining)."""
    g = torch.Generator().manual_seed(0)
    top = vocab - N_SENTINELS if family == "t5" else vocab
    out = []
    for _ in range(count):
        ids = torch.randint(MASK + 1, top, (s["batch"], s["seq"]), generator=g)
        torch.manual_seed(len(out))
        out.append(obj.prepare({"input_ids": ids, "attention_mask": torch.ones_like(ids)}))
    return out


def hf_inputs(family: str, b: dict) -> dict:
    if family == "gpt":  # GPT2LMHeadModel shifts the labels itself
        return {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"], "labels": b["labels"]}
    keys = ("input_ids", "attention_mask", "labels") + (("decoder_input_ids",) if family == "t5" else ())
    return {k: b[k] for k in keys}


def build_pair(family: str, s: dict, vocab: int, root: Path, hf_fused: bool):
    from omegaconf import OmegaConf

    from framework.checkpoint import load_checkpoint
    from framework.hf import import_hf
    from framework.training.optim import build_optimizer

    torch.manual_seed(0)
    hf = hf_model(family, s, vocab)
    hf.save_pretrained(root / "hf")
    import_hf(root / "hf", root / "nlpf")
    ours, _ = load_checkpoint(root / "nlpf")
    ours.train(), hf.train()
    optim = OmegaConf.create(dict(name="adamw", lr=1e-4, weight_decay=0.01, betas=[0.9, 0.999], eps=1e-8))
    ours_opt = build_optimizer(ours, optim)
    hf_opt = torch.optim.AdamW(hf.parameters(), lr=1e-4, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8,
                               fused=True if hf_fused else None)
    return ours, ours_opt, hf, hf_opt


def step_fns(family: str, ours, ours_opt, hf, hf_opt, obj, data: list[dict], precision: str, compile_: bool = False):
    autocast = precision == "bf16-mixed"

    def ours_loss(b):
        return obj.loss(obj.forward(ours, b), b)

    if compile_:  # forward and loss in one graph (compiled during warmup)
        ours_loss = torch.compile(ours_loss)
    hf_data = [hf_inputs(family, b) for b in data]
    counter = {"ours": 0, "hf": 0}

    def run(model_loss, opt):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model_loss()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def ours_step():
        b = data[counter["ours"] % len(data)]
        counter["ours"] += 1
        run(lambda: ours_loss(b), ours_opt)

    def hf_step():
        b = hf_data[counter["hf"] % len(hf_data)]
        counter["hf"] += 1
        run(lambda: hf(**b).loss, hf_opt)

    return ours_step, hf_step


def interleaved(a, b, warmup: int, rounds: int, steps: int, clock=time.perf_counter) -> tuple[float, float]:
    """Best seconds per step of a and b over alternating groups of `steps` steps. The best, not the median:
    on a shared machine other jobs only ever add time, so the fastest group is the least disturbed.
    clock: time.perf_counter (wall) or time.process_time (CPU seconds of this process: with one thread the
    same as wall time on an idle machine, and blind to the time other jobs hold the core)."""
    for _ in range(warmup):
        a(), b()
    ta, tb = [], []
    for _ in range(rounds):
        for fn, times in ((a, ta), (b, tb)):
            start = clock()
            for _ in range(steps):
                fn()
            times.append((clock() - start) / steps)
    return min(ta), min(tb)


def same_loss(family, ours, hf, obj, b) -> float:
    """Relative difference of the first loss (checks that both sides compute the same thing), computed with
    gradients recorded, so through the same path as the timed steps (nlpf's fused LM head + loss)."""
    a = obj.loss(obj.forward(ours, b), b).item()
    c = hf(**hf_inputs(family, b)).loss.item()
    ours.zero_grad(set_to_none=True), hf.zero_grad(set_to_none=True)
    return abs(a - c) / abs(c)


def status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MiB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def reset_peak() -> None:
    """Start VmHWM again from the current resident set (Linux >= 4.0), so building both models does not count."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def size_of(args) -> dict:
    """The named size with any --hidden/--layers/--heads/--seq/--batch overrides."""
    return {k: getattr(args, k) or v for k, v in SIZES[args.size].items()}


def memory_child(args) -> None:
    """Subprocess mode: one side, a few steps, print the resident-set growth in MiB as JSON."""
    s = size_of(args)
    with tempfile.TemporaryDirectory() as tmp:
        ours, ours_opt, hf, hf_opt = build_pair(args.family[0], s, args.vocab, Path(tmp), args.hf_fused)
        obj = objective(args.family[0], args.vocab)
        data = batches(args.family[0], s, args.vocab, 2, obj)
        fns = step_fns(args.family[0], ours, ours_opt, hf, hf_opt, obj, data, args.precision[0])
        fn = fns[0] if args.memory_child == "ours" else fns[1]
        if args.memory_child == "ours":
            del hf, hf_opt
        else:
            del ours, ours_opt
        gc.collect()
        reset_peak()
        before = status_mib("VmRSS")
        for _ in range(3):
            fn()
        peak = status_mib("VmHWM")
        print(json.dumps({"peak_growth_mib": max(peak - before, 0.0)}))


def peak_memory(args, family: str, precision: str, side: str) -> float:
    cmd = [sys.executable, __file__, "--family", family, "--size", args.size, "--precision", precision,
           "--vocab", str(args.vocab), "--threads", str(args.threads), "--memory-child", side]
    cmd += [arg for key in ("hidden", "layers", "heads", "seq", "batch") if getattr(args, key)
            for arg in (f"--{key}", str(getattr(args, key)))]
    cmd += ["--hf-fused"] * args.hf_fused + ["--keep-freed-memory"] * args.keep_freed_memory
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_growth_mib"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", nargs="+", default=["all"], choices=[*FAMILIES, "all"])
    p.add_argument("--size", default="small", choices=list(SIZES))
    p.add_argument("--precision", nargs="+", default=["float32", "bf16-mixed"], choices=["float32", "bf16-mixed"])
    p.add_argument("--vocab", type=int, default=8000, help="vocabulary size (the pretraining experiments use 8000)")
    for key in ("hidden", "layers", "heads", "seq", "batch"):
        p.add_argument(f"--{key}", type=int, help=f"override the size's {key}")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=2, help="steps per timed group")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--hf-fused", action="store_true", help="give transformers the fused AdamW kernel too")
    p.add_argument("--cpu-time", action="store_true",
                   help="time steps by this process's CPU time instead of wall time (a machine shared with other "
                   "jobs; use with --threads 1)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="nlpf train's glibc malloc setting, for the whole process (both sides)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile nlpf's forward + loss (trainer.compile); use --warmup >= 2 to absorb compilation")
    p.add_argument("--memory-child", choices=["ours", "hf"], help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        from framework.training.memory import keep_freed_memory

        keep_freed_memory()
    if args.memory_child:
        return memory_child(args)
    families = list(FAMILIES) if "all" in args.family else args.family
    s = size_of(args)
    tokens = s["batch"] * s["seq"]
    print(f"size {args.size} {s}, vocab {args.vocab}, threads {args.threads}, compile {args.compile}, "
          f"clock {'cpu' if args.cpu_time else 'wall'}, keep freed memory {args.keep_freed_memory}, "
          f"torch {torch.__version__}")
    rows = []
    for family in families:
        obj = objective(family, args.vocab)
        with tempfile.TemporaryDirectory() as tmp:
            ours, ours_opt, hf, hf_opt = build_pair(family, s, args.vocab, Path(tmp), args.hf_fused)
        data = batches(family, s, args.vocab, 4, obj)
        diff = same_loss(family, ours, hf, obj, data[0])
        hf_fp32 = None
        for precision in args.precision:
            a, b = step_fns(family, ours, ours_opt, hf, hf_opt, obj, data, precision, args.compile)
            t_ours, t_hf = interleaved(a, b, args.warmup, args.rounds, args.steps,
                                       time.process_time if args.cpu_time else time.perf_counter)
            if precision == "float32":
                hf_fp32 = t_hf
            mem = ("-", "-") if args.no_memory else tuple(
                f"{peak_memory(args, family, precision, side):.0f}" for side in ("ours", "hf"))
            rows.append((family, precision, tokens / t_ours, tokens / t_hf, t_hf / t_ours,
                         hf_fp32 / t_ours if hf_fp32 else None, *mem, diff))
            print(f"  {family} {precision}: nlpf {tokens / t_ours:.0f} tok/s, transformers {tokens / t_hf:.0f} tok/s",
                  flush=True)
    print()
    print("| family | precision | nlpf tok/s | transformers tok/s | ratio | vs transformers float32 "
          "| nlpf peak MiB | transformers peak MiB | first-loss rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for fam, prec, ours_tps, hf_tps, ratio, vs32, m_ours, m_hf, diff in rows:
        vs = f"{vs32:.2f}x" if vs32 is not None else "-"
        print(f"| {fam} | {prec} | {ours_tps:.0f} | {hf_tps:.0f} | {ratio:.2f}x | {vs} | {m_ours} | {m_hf} | {diff:.1e} |")


if __name__ == "__main__":
    main()
