"""The cost of `nlpf train` (Lightning, data loading, logging, checkpointing) over a bare PyTorch loop.

Both run the same number of optimizer steps of the same model on the same batches: the bare loop
builds the run exactly as `nlpf train` does (`framework.training.build.build_run`, same seed), takes
the first N batches of the same DataModule (collated before timing), and runs prepare / forward /
loss / backward / optimizer / scheduler / zero_grad with the same fused AdamW. `nlpf train` runs as a
subprocess; its time is the `train_seconds` it records around `trainer.fit` (setup, data loading,
logging, the final checkpoints). Validation is off (the bare loop has none). Runs alternate
(nlpf, bare, nlpf, bare, ...) and the median of each is compared.

    python benchmarks/train_overhead.py                  # GPT, hidden 256, 4 layers, seq 256, batch 8, 40 steps
    python benchmarks/train_overhead.py --steps 80 --repeats 3 --precision bf16-mixed
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def synthetic_corpus(path: Path, lines: int = 20000) -> None:
    """Plain English-like text, enough for the requested steps without a second epoch."""
    rng = random.Random(0)
    words = ("the model reads text and learns to predict the next word from the words before it while "
             "training runs on a small machine with two cores and every step counts").split()
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) for _ in range(lines)))


def overrides(args, corpus: Path) -> list[str]:
    return [
        "model=gpt_tiny", f"model.n_embd={args.hidden}", f"model.n_layer={args.layers}", f"model.n_head={args.heads}",
        f"model.n_positions={args.seq}", f"max_length={args.seq}", f"batch_size={args.batch}",
        "data=text", f"data.path={corpus}", "data.validation_ratio=0.01", "data.test_ratio=0.01",
        f"trainer.max_steps={args.steps}", "trainer.limit_val_batches=0", "trainer.enable_progress_bar=false",
        f"trainer.precision={args.precision}", f"trainer.compile={str(args.compile).lower()}",
        "trainer.log_every_n_steps=10", "optim.scheduler=cosine",
    ]


def run_nlpf(args, corpus: Path, run_dir: Path) -> tuple[float, float]:
    """(train_seconds as recorded by nlpf train, wall seconds of the whole command)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    cmd = [sys.executable, "-m", "framework.cli", "train", *overrides(args, corpus), f"run_dir={run_dir}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"nlpf train failed:\n{proc.stderr[-3000:]}")
    done = json.loads((run_dir / "metrics.json").read_text())
    assert done["global_step"] == args.steps, done
    return float(done["train_seconds"]), wall


def bare_loop(args, corpus: Path):
    """A function that runs the bare loop once over freshly built model and optimizer; returns its seconds."""
    import pytorch_lightning as pl

    from framework.config import load
    from framework.training.build import build_run
    from framework.training.datamodule import DataModule
    from framework.training.optim import build_optimizer, build_scheduler

    cfg = load(overrides(args, corpus))
    autocast = args.precision == "bf16-mixed"

    def once() -> float:
        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
        run = build_run(cfg, verbose=False)
        model, objective = run.model, run.objective
        if args.compile:
            model.compile()
        loader = DataModule(run.cfg, run.datasets, run.tokenizer, objective.task).train_dataloader()
        batches = []
        for b in loader:
            batches.append(b)
            if len(batches) == args.steps:
                break
        assert len(batches) == args.steps, "the corpus is too small for --steps"
        optimizer = build_optimizer(model, run.cfg.optim)
        scheduler = build_scheduler(optimizer, run.cfg.optim, args.steps)
        model.train()
        start = time.perf_counter()
        for b in batches:
            b = objective.prepare(b)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = objective.loss(objective.forward(model, b), b)
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    return once


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--precision", default="32", choices=["32", "bf16-mixed"])
    p.add_argument("--compile", action="store_true", help="trainer.compile=true on both sides")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.txt"
        synthetic_corpus(corpus)
        bare = bare_loop(args, corpus)
        bare()  # warm up: caches, allocator, first-call costs (nlpf train pays its own in its subprocess)
        nlpf_fit, nlpf_wall, bare_times = [], [], []
        for i in range(args.repeats):
            fit, wall = run_nlpf(args, corpus, tmp / f"run{i}")
            nlpf_fit.append(fit)
            nlpf_wall.append(wall)
            bare_times.append(bare())
            print(f"  repeat {i}: nlpf train fit {fit:.1f} s (whole command {wall:.1f} s), bare loop {bare_times[-1]:.1f} s",
                  flush=True)
    fit, wall, loop = statistics.median(nlpf_fit), statistics.median(nlpf_wall), statistics.median(bare_times)
    print(f"\nGPT hidden {args.hidden}, {args.layers} layers, seq {args.seq}, batch {args.batch}, {args.steps} steps, "
          f"precision {args.precision}, threads {args.threads}, torch {torch.__version__}\n")
    print("| what | seconds | ratio to bare loop |")
    print("|---|---|---|")
    print(f"| bare PyTorch loop | {loop:.2f} | 1.00x |")
    print(f"| `nlpf train`, trainer.fit | {fit:.2f} | {fit / loop:.2f}x |")
    print(f"| `nlpf train`, whole command (start-up, tokenizer, data, test, checkpoints) | {wall:.2f} | {wall / loop:.2f}x |")


if __name__ == "__main__":
    main()
