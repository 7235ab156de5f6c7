"""Schemas of the config keys the core owns (trainer, optimizer, run). Component nodes
(tokenizer, model, head, objective, data) are validated against their registered dataclasses."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

# config group -> registry that owns the `name` in it
COMPONENT_GROUPS = {
    "tokenizer": "tokenizer",
    "model": "architecture",
    "head": "head",
    "objective": "objective",
    "data": "data",
}


@dataclass
class TrainerConfig:
    """Passed to `lightning.Trainer` (names match its arguments)."""

    accelerator: str = "cpu"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32"
    max_epochs: int = 1
    max_steps: int = -1
    max_time: Optional[str] = None
    val_check_interval: Optional[float] = None
    check_val_every_n_epoch: int = 1
    limit_train_batches: Optional[float] = None
    limit_val_batches: Optional[float] = None
    limit_test_batches: Optional[float] = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: Optional[float] = None
    log_every_n_steps: int = 50
    deterministic: bool = False
    enable_progress_bar: bool = True
    num_sanity_val_steps: int = 0
    compile: bool = False
    early_stopping_patience: Optional[int] = None
    loggers: list = field(default_factory=lambda: ["csv"])
    checkpoint_every_n_steps: Optional[int] = None
    on_nan: str = "stop"  # stop | skip


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | adam | sgd | adafactor
    lr: float = 5e-4
    weight_decay: float = 0.01
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.9
    scheduler: str = "linear"  # constant | linear | cosine
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    min_lr_ratio: float = 0.0
    # parameters kept fixed: name prefixes, e.g. [backbone.embeddings] or [backbone] (train the head only)
    freeze: list = field(default_factory=list)


@dataclass
class RunConfig:
    tokenizer: Any = None
    model: Any = None
    head: Any = None
    objective: Any = None
    data: Any = None
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    experiment_name: str = "default"
    seed: int = 0
    run_dir: Optional[str] = None
    init_from: Optional[str] = None
    resume: Optional[str] = None
    batch_size: int = 32
    eval_batch_size: Optional[int] = None
    max_length: int = 128
    num_workers: int = 0
    # label names of a classification or tagging task, recorded by training so checkpoints describe themselves
    labels: Optional[list] = None
