"""Schemas of the config keys the core owns (trainer, optimizer, run). Component nodes
(tokenizer, model, head, objective, data) are validated against their registered dataclasses."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from framework import checks

OPTIMIZERS = ("adamw", "adam", "sgd", "adafactor")
SCHEDULERS = ("constant", "linear", "cosine")
PRECISIONS = ("auto", "32", "32-true", "64", "64-true", "16-mixed", "16-true", "bf16-mixed", "bf16-true", "16", "bf16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")
LOGGERS = ("csv", "tensorboard")
# Lightning's registered strategy names (pytorch_lightning.strategies.StrategyRegistry), kept here so that a
# misspelt one is caught when the config is composed, not after the data is loaded
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "ddp_find_unused_parameters_true",
              "ddp_find_unused_parameters_false", "ddp_spawn_find_unused_parameters_true",
              "ddp_spawn_find_unused_parameters_false", "ddp_fork_find_unused_parameters_true",
              "ddp_fork_find_unused_parameters_false", "ddp_notebook_find_unused_parameters_true",
              "ddp_notebook_find_unused_parameters_false", "fsdp", "fsdp_cpu_offload", "deepspeed",
              "deepspeed_stage_1", "deepspeed_stage_2", "deepspeed_stage_2_offload", "deepspeed_stage_3",
              "deepspeed_stage_3_offload", "deepspeed_stage_3_offload_nvme", "single_device", "single_tpu",
              "single_xla", "xla", "xla_debug")

# torch.distributed.fsdp.ShardingStrategy: everything sharded, gradients and optimizer state only, nothing
# (as DDP), and the hybrids (sharded within a node, replicated across nodes)
FSDP_SHARDING = ("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "_HYBRID_SHARD_ZERO2")

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
    precision: str = "auto"
    max_epochs: Optional[int] = None  # null: 1 epoch, or as many as max_steps needs when that is set
    max_steps: int = -1
    max_time: Optional[str] = None
    val_check_interval: Optional[Union[int, float]] = None  # as in Lightning: an int counts batches, a float is a fraction
    check_val_every_n_epoch: int = 1
    limit_train_batches: Optional[Union[int, float]] = None
    limit_val_batches: Optional[Union[int, float]] = None
    limit_test_batches: Optional[Union[int, float]] = None
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
    keep_freed_memory: bool = True  # glibc malloc keeps freed blocks: no page faults for big per-step tensors
    activation_checkpointing: bool = False  # recompute each transformer layer in the backward: less memory
    find_unused_parameters: bool = False  # DDP: allow parameters that get no gradient in some step (slower)
    # FSDP: the module classes each sharded as their own unit (import paths); [] shards the model as one unit
    fsdp_wrap: list = field(default_factory=lambda: ["TransformerLayer"])  # class names of the model's modules
    fsdp_sharding: str = "FULL_SHARD"  # FSDP: what is sharded (FSDP_SHARDING, torch's ShardingStrategy names)

    def __post_init__(self):
        checks.one_of(self, "accelerator", ACCELERATORS)
        checks.one_of(self, "precision", PRECISIONS)
        checks.one_of(self, "on_nan", ("stop", "skip"))
        checks.at_least(self, 1, "num_nodes", "check_val_every_n_epoch", "accumulate_grad_batches",
                        "log_every_n_steps", "early_stopping_patience", "checkpoint_every_n_steps")
        checks.at_least(self, -1, "max_epochs", "max_steps")
        checks.at_least(self, 0, "gradient_clip_val", "limit_train_batches", "limit_val_batches",
                        "limit_test_batches", "num_sanity_val_steps")
        checks.positive(self, "val_check_interval")
        for key in ("val_check_interval", "limit_train_batches", "limit_val_batches", "limit_test_batches"):
            value = getattr(self, key)
            if isinstance(value, float) and value > 1 and not value.is_integer():
                raise checks.FieldError(key, value, "a fraction is at most 1.0, a number of batches is whole",
                                        hint=f"e.g. trainer.{key}=0.25 (a quarter) or trainer.{key}=10 (ten batches)")
        if self.max_steps == 0 or self.max_epochs == 0 or self.limit_train_batches in (0, 0.0):
            key = next(k for k in ("max_steps", "max_epochs", "limit_train_batches") if getattr(self, k) in (0, 0.0))
            raise checks.FieldError(key, 0, "trains nothing", hint="to test a checkpoint without training, use "
                                    "nlpf evaluate ckpt=RUN_DIR")
        if self.max_epochs == -1 and self.max_steps == -1 and self.max_time is None:
            raise checks.FieldError("max_epochs", -1, "with trainer.max_steps=-1 and no trainer.max_time, training "
                                    "would never end", hint="set trainer.max_steps=N, trainer.max_epochs=N or "
                                    "trainer.max_time=DD:HH:MM:SS")
        if self.early_stopping_patience and self.limit_val_batches in (0, 0.0):
            raise checks.FieldError("early_stopping_patience", self.early_stopping_patience,
                                    "needs validation, but trainer.limit_val_batches=0 turns it off",
                                    hint="drop trainer.early_stopping_patience or trainer.limit_val_batches=0")
        checks.one_of(self, "strategy", STRATEGIES)
        checks.one_of(self, "fsdp_sharding", FSDP_SHARDING)
        if self.find_unused_parameters and str(self.strategy) != "ddp":  # only DDP searches for them
            raise checks.FieldError("find_unused_parameters", True, f"needs trainer.strategy=ddp, not {str(self.strategy)!r}",
                                    hint="use trainer=ddp (or trainer.strategy=ddp) with it")
        if self.max_time is not None and not re.fullmatch(r"\d+:\d\d:\d\d:\d\d", str(self.max_time)):
            raise checks.FieldError("max_time", self.max_time, "expected DD:HH:MM:SS",
                                    hint="e.g. trainer.max_time=00:12:00:00 for twelve hours")
        self._check_loggers()
        devices = self.devices
        if not (devices in ("auto", -1) or (isinstance(devices, int) and not isinstance(devices, bool) and devices > 0)
                or (isinstance(devices, (list, tuple)) and devices and all(isinstance(d, int) for d in devices))
                or (isinstance(devices, str) and devices.replace(",", "").strip().isdigit())):
            raise checks.FieldError("devices", devices, "expected a count > 0, -1 or auto (all), or a list of ids",
                                    hint="e.g. trainer.devices=1, trainer.devices=auto or trainer.devices=[0,1]")

    def _check_loggers(self):
        """Checked with the config, not when the trainer is built after the data is tokenized."""
        from importlib.util import find_spec

        from framework.errors import did_you_mean

        for name in self.loggers or []:
            if name not in LOGGERS:
                raise checks.FieldError("loggers", list(self.loggers), f"unknown logger '{name}'."
                                        + did_you_mean(str(name), LOGGERS),
                                        hint=f"a list of {', '.join(LOGGERS)}, e.g. trainer.loggers=[csv,tensorboard]")
            if name == "tensorboard" and not (find_spec("tensorboard") or find_spec("tensorboardX")):
                raise checks.FieldError("loggers", list(self.loggers), "the tensorboard logger needs the tensorboard "
                                        "package, which is not installed", hint="pip install 'nlpf[tensorboard]' "
                                        "(or pip install tensorboard), or leave tensorboard out of trainer.loggers")


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | adam | sgd | adafactor
    lr: float = 5e-4
    weight_decay: float = 0.01
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.9
    scheduler: str = "linear"  # constant | linear | cosine
    warmup_steps: int = 0  # when set, it wins over warmup_ratio
    warmup_ratio: float = 0.0
    min_lr_ratio: float = 0.0
    # parameters kept fixed: name prefixes, e.g. [backbone.embeddings] or [backbone] (train the head only)
    freeze: list = field(default_factory=list)

    def __post_init__(self):
        checks.one_of(self, "name", OPTIMIZERS)
        checks.one_of(self, "scheduler", SCHEDULERS)
        checks.positive(self, "lr", "eps")
        checks.at_least(self, 0, "weight_decay", "warmup_steps")
        checks.in_range(self, 0, 1, "warmup_ratio", "min_lr_ratio", "momentum")
        if self.betas is not None and (len(self.betas) != 2 or not all(0 <= float(b) < 1 for b in self.betas)):
            raise checks.FieldError("betas", list(self.betas), "must be two numbers in [0, 1)",
                                    hint="e.g. optim.betas=[0.9,0.999]")


@dataclass
class LoraConfig:
    r: int = 0  # rank of the adapters; 0 trains every parameter (no LoRA)
    alpha: float = 16.0  # the adapters' output is scaled by alpha / r
    # the backbone's linear layers that get adapters, by name or name ending: qkv, attn.out, ffn.up ...
    targets: list = field(default_factory=lambda: ["qkv", "out"])
    trainable: list = field(default_factory=list)  # parameters trained whole too, by name prefix (as optim.freeze)

    def __post_init__(self):
        checks.at_least(self, 0, "r")
        checks.positive(self, "alpha")
        if self.r and not self.targets:
            raise checks.FieldError("targets", [], "names no layer to adapt", hint="e.g. lora.targets=[qkv,out]")


@dataclass
class RunConfig:
    tokenizer: Any = None
    model: Any = None
    head: Any = None
    objective: Any = None
    data: Any = None
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
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

    def __post_init__(self):  # trainer and optim check themselves
        checks.at_least(self, 1, "batch_size", "eval_batch_size", "max_length")
        checks.at_least(self, 0, "num_workers", "seed")
        checks.in_range(self, 0, 2**32 - 1, "seed")
        checks.unique(self, "labels")
        name = self.experiment_name
        if isinstance(name, str) and (not name.strip() or "/" in name or "\\" in name or name in (".", "..")):
            # it names the folder runs/<experiment_name>/: a path would put runs anywhere
            raise checks.FieldError("experiment_name", name, "must be a plain folder name (no '/', not empty)",
                                    hint="write run_dir=PATH to choose where the run goes")
