"""Training-step time of LoRA against full fine-tuning, same model, same batches, in one process.

Builds the run as `nlpf train experiment=finetune_sentiment` does (imported all-MiniLM-L6-v2, classification
head, the recipe's length-bucketed batches), collates the first N training batches once, then times N
optimizer steps of full fine-tuning and N of LoRA (`lora.r`, `lora.targets`) on fresh copies of the same
weights, alternating full / LoRA for --rounds rounds, and prints the median ms per step and the ratio.
Dropout stays on (as in training); the first step of each round is not timed.

    python benchmarks/lora_step.py                       # 60 steps, 3 rounds, r=16 on qkv and out
    python benchmarks/lora_step.py --targets qkv out ffn.up ffn.down --batch-size 32
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--targets", nargs="+", default=["qkv", "out"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from framework.config import load
    from framework.training.build import adopt_checkpoint_config, build_run, checkpoint_dir
    from framework.training.datamodule import DataModule
    from framework.training.lora import apply_lora
    from framework.training.memory import keep_freed_memory
    from framework.training.optim import build_optimizer

    keep_freed_memory()  # as nlpf train does by default (trainer.keep_freed_memory)
    cfg = load(["experiment=finetune_sentiment", f"batch_size={args.batch_size}"])
    cfg, _ = adopt_checkpoint_config(cfg, checkpoint_dir(cfg.init_from))  # MiniLM's architecture, as nlpf train
    pl.seed_everything(0, verbose=False)
    run = build_run(cfg, verbose=False)
    loader = DataModule(run.cfg, run.datasets, run.tokenizer, run.objective.task).train_dataloader()
    batches = [b for _, b in zip(range(args.steps + 1), loader)]
    lora = OmegaConf.create({"r": args.rank, "alpha": 2.0 * args.rank, "targets": args.targets, "trainable": []})

    def steps(model) -> float:
        optimizer = build_optimizer(model, run.cfg.optim)
        model.train()
        start = None
        for i, b in enumerate(batches):
            if i == 1:
                start = time.perf_counter()
            b = run.objective.prepare(b)
            run.objective.loss(run.objective.forward(model, b), b).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return (time.perf_counter() - start) / (len(batches) - 1) * 1000

    full, low = [], []
    for _ in range(args.rounds):
        full.append(steps(copy.deepcopy(run.model)))
        adapted = copy.deepcopy(run.model)
        trainable, total = apply_lora(adapted, lora)
        low.append(steps(adapted))
    f, l_ = statistics.median(full), statistics.median(low)
    print(f"MiniLM sentiment, batch {args.batch_size}, {args.steps} steps x {args.rounds} rounds, {args.threads} threads")
    print("| training | trained parameters | ms / step (median) | rounds |")
    print("|---|---|---|---|")
    print(f"| full fine-tuning | {sum(p.numel() for p in run.model.parameters()):,} | {f:.1f} | {', '.join(f'{x:.1f}' for x in full)} |")
    print(f"| LoRA r={args.rank} on {', '.join(args.targets)} | {trainable:,} | {l_:.1f} | {', '.join(f'{x:.1f}' for x in low)} |")
    print(f"LoRA step time / full: {l_ / f:.2f}")


if __name__ == "__main__":
    main()
