"""Callbacks: tokens/s in the progress bar, and nlpf checkpoints (last and best) in RUN_DIR/checkpoints/."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint


class LaunchJoined(pl.Callback):
    """Rank 0 of a torchrun/srun launch removes its run-directory handoff (file or store key) once every rank
    has joined the process group, so has read it: a run killed later leaves no handoff behind."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        from framework.training.launch import remove_handoffs

        remove_handoffs()


class TokensPerSecond(pl.Callback):
    """Counts real (non-padding) tokens on the device and shows throughput every `every` steps.

    Time spent in validation (and in the checkpoint saves that follow it) is left out of the training
    seconds and the tokens/s, and reported beside them."""

    def __init__(self, every: int = 10):
        self.every = max(int(every), 1)
        self._tokens = None
        self._start = None
        self._paused = None  # when the current validation began
        self._outside = 0.0  # seconds of validation (and what follows it before training resumes) this epoch
        self.epochs: list[dict] = []  # per finished epoch: seconds, validation_seconds, tokens, tokens/s
        # what a resumed run carries over from the interrupted one: its fit seconds, and the counts of the
        # epoch it was in (tokens, training seconds, validation seconds)
        self.seconds_before = 0.0
        self._carry = (0.0, 0.0, 0.0)
        self._fit_start = None

    def _resume(self) -> None:
        if self._paused is not None:
            self._outside += time.perf_counter() - self._paused
            self._paused = None

    def _outside_now(self) -> float:
        """Seconds outside training this epoch in this process, the validation now running included."""
        return self._outside + (time.perf_counter() - self._paused if self._paused is not None else 0.0)

    def _training_seconds(self) -> float:
        ours = time.perf_counter() - self._start - self._outside_now() if self._start is not None else 0.0
        return ours + self._carry[1]

    def _in_epoch(self) -> bool:
        """Whether this epoch has counted anything: batches in this process, or carried over from before a resume
        (a run stopped during the epoch's validation resumes with no batch left to train in it)."""
        return self._start is not None or any(self._carry)

    def _tokens_so_far(self) -> float:
        return (float(self._tokens) if self._tokens is not None else 0.0) + self._carry[0]

    # saved in Lightning's checkpoint, so that metrics.json of a resumed run covers the whole run
    def on_fit_start(self, trainer, pl_module):
        self._fit_start = time.perf_counter()

    def state_dict(self) -> dict:
        current = None
        if self._in_epoch():  # inside an epoch: what it has counted so far
            current = [self._tokens_so_far(), self._training_seconds(), self._outside_now() + self._carry[2]]
        fit = time.perf_counter() - self._fit_start if self._fit_start is not None else 0.0
        return {"epochs": list(self.epochs), "seconds_before": self.seconds_before + fit, "current": current}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = list(state.get("epochs", []))
        self.seconds_before = float(state.get("seconds_before", 0.0))
        self._carry = tuple(state["current"]) if state.get("current") else (0.0, 0.0, 0.0)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._resume()
        mask = batch.get("attention_mask") if isinstance(batch, dict) else None
        count = mask.sum() if mask is not None else torch.tensor(batch["input_ids"].numel())
        self._tokens = count if self._tokens is None else self._tokens + count
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if (batch_idx + 1) % self.every:
            return
        elapsed = self._training_seconds()
        tokens = self._tokens_so_far() * trainer.world_size  # one host sync per `every` steps
        pl_module.log("train/tokens_per_s", tokens / max(elapsed, 1e-9), prog_bar=True, on_step=True, on_epoch=False)

    def on_validation_start(self, trainer, pl_module):
        if self._in_epoch() and not trainer.sanity_checking:
            self._paused = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module):
        self._tokens, self._start, self._paused, self._outside = None, None, None, 0.0

    def on_train_epoch_end(self, trainer, pl_module):
        if not self._in_epoch():
            return
        self._resume()
        seconds = self._training_seconds()
        tokens = self._tokens_so_far() * trainer.world_size
        self._outside += self._carry[2]
        self._start, self._carry = None, (0.0, 0.0, 0.0)  # the epoch is done: nothing to carry into the next
        self.epochs.append({"epoch": trainer.current_epoch, "seconds": round(seconds, 1),
                            "validation_seconds": round(self._outside, 1), "tokens": int(tokens),
                            "tokens_per_s": round(tokens / max(seconds, 1e-9))})
        if trainer.is_global_zero:
            validation = f"; {self._outside:.1f} s of validation and checkpoints" if self._outside else ""
            print(f"epoch {trainer.current_epoch}: {seconds:.1f} s of training, {tokens / max(seconds, 1e-9):,.0f} "
                  f"tokens/s{validation}", flush=True)


class NlpfCheckpoint(pl.Callback):
    """Writes self-describing checkpoints with `save(directory, step)`: `best` whenever the monitored metric
    improves at a validation, `last` at the end of training (and after every validation). `save` is called on
    every rank (under FSDP the weights are gathered from all ranks) and writes on rank 0."""

    def __init__(self, directory: str | Path, save: Callable[[Path, int], None], monitor: str, mode: str):
        self.directory = Path(directory)
        self.save, self.monitor, self.mode = save, monitor, mode
        self.best: float | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        if self._improved(value):
            self.best = value
            self.save(self.directory / "best", trainer.global_step)

    def on_train_end(self, trainer, pl_module):
        self.save(self.directory / "last", trainer.global_step)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state_dict):
        self.best = state_dict.get("best")


STATE_KEY = "AtomicModelCheckpoint"


class AtomicModelCheckpoint(ModelCheckpoint):
    """Lightning's checkpoint (for exact resume), written to a temporary file and renamed into place, so a run
    killed while saving still has its previous last.ckpt intact.

    Lightning saves a step's checkpoint before it logs that step's metrics, so a checkpoint saved at the end of
    a training step is published (renamed into place) only at the next hook, once the step is logged and the
    loggers flushed: a run killed in between resumes from the previous checkpoint, whose log is complete."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: list[tuple[str, str]] = []
        self._in_batch_end = False
        self._after_validation = False  # a step checkpoint was due at the batch before this validation

    @property
    def state_key(self) -> str:
        # Lightning's key names every_n_train_steps: resuming with another trainer.checkpoint_every_n_steps would
        # warn about a missing callback (nlpf itself names the changed setting); old keys are renamed on load
        return STATE_KEY

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        tmp = f"{filepath}.tmp"
        super()._save_checkpoint(trainer, tmp)
        self._last_checkpoint_saved = filepath
        self._pending.append((tmp, filepath))
        if not self._in_batch_end:
            self._publish(trainer)

    def _publish(self, trainer) -> None:
        if not self._pending:
            return
        for logger in trainer.loggers:
            logger.save()
        if trainer.is_global_zero:
            for tmp, filepath in self._pending:
                if os.path.exists(tmp):
                    os.replace(tmp, filepath)
        self._pending = []
        trainer.strategy.barrier("atomic_checkpoint")

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and self.dirpath and os.path.isdir(self.dirpath):
            for name in os.listdir(self.dirpath):  # left by a run killed before it could publish them
                if name.endswith(".ckpt.tmp"):
                    os.unlink(os.path.join(self.dirpath, name))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._publish(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # a step checkpoint taken before a validation would resume without running it (Lightning takes it as
        # done): at the last batch the epoch-end checkpoint follows, mid-epoch it is taken after the validation
        loop = trainer.fit_loop.epoch_loop
        if loop.batch_progress.is_last_batch:
            return
        if self._every_n_train_steps >= 1 and trainer.global_step % self._every_n_train_steps == 0 \
                and loop._should_check_val_fx(trainer.fit_loop._data_fetcher):
            self._after_validation = True
            return
        self._in_batch_end = True
        try:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        finally:
            self._in_batch_end = False

    def on_validation_start(self, trainer, pl_module) -> None:
        self._publish(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if self._after_validation and not trainer.sanity_checking:
            self._after_validation = False
            if not self._should_skip_saving_checkpoint(trainer):
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._publish(trainer)
        super().on_train_epoch_end(trainer, pl_module)
        # Lightning writes last.ckpt at an epoch end only when a top-k checkpoint was saved at that step, and
        # this callback keeps none (save_top_k=0): save it here, so every epoch end is a resume point
        if not self._should_skip_saving_checkpoint(trainer) and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_end(self, trainer, pl_module) -> None:
        self._publish(trainer)
        super().on_train_end(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        # an error may come from a step before the pending checkpoint (NaNs are noticed late); on SIGTERM
        # GracefulStop has just saved the current state itself
        for tmp, _ in self._pending:
            if trainer.is_global_zero and os.path.exists(tmp):
                os.unlink(tmp)
        self._pending = []
        super().on_exception(trainer, pl_module, exception)


def _full_state_dict(root, rank0_only: bool):
    """FSDP's context in which `root.state_dict()` gathers (and `load_state_dict` takes) full, unsharded weights."""
    from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel, StateDictType

    # offloading copies each gathered tensor to the CPU (else all of them would sit on one GPU); weights already
    # on the CPU must not be offloaded (torch crashes)
    offload = next(root.parameters()).device.type != "cpu"
    config = FullStateDictConfig(offload_to_cpu=offload, rank0_only=rank0_only)
    return FullyShardedDataParallel.state_dict_type(root, StateDictType.FULL_STATE_DICT, config)


def gathered_state(root, prefix: str = "model.") -> dict[str, torch.Tensor] | None:
    """Every rank: the full weights of the module at `prefix` under the FSDP `root`, gathered from all ranks'
    shards (collective); rank 0 gets them, the others None."""
    import torch.distributed as dist

    with _full_state_dict(root, rank0_only=True):
        state = root.state_dict()
    if dist.get_rank() != 0:
        return None
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_gathered(root, state: dict[str, torch.Tensor], prefix: str = "model.") -> None:
    """Every rank: load full weights (as `gathered_state` returns them) into the module at `prefix` under the
    FSDP `root`; each rank keeps its shard. Missing names (a tied alias saved once) keep their values."""
    with _full_state_dict(root, rank0_only=False):
        root.load_state_dict({prefix + k: v for k, v in state.items()}, strict=False)


def without_tied_aliases(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` with each tied parameter under its first name only, as a checkpoint of the unwrapped model
    keeps it (FSDP gathers a tied weight once per name)."""
    from framework.training.optim import unwrapped_name

    first: dict[int, str] = {}
    aliases = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        name = unwrapped_name(name)
        if first.setdefault(id(p), name) != name:
            aliases.add(name)
    return {k: v for k, v in state.items() if k not in aliases}


def _lora_layers(model: torch.nn.Module) -> dict:
    """Unwrapped name -> LoRALinear, for every LoRA layer in `model`."""
    from framework.modules.lora import LoRALinear
    from framework.training.optim import unwrapped_name

    return {unwrapped_name(n): m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora_state(model: torch.nn.Module, state: dict[str, torch.Tensor]):
    """(merged weights, adapters) from a full state dict of a LoRA model: what lora.merged_state and
    lora.adapter_state read from the model itself, which FSDP holds in shards."""
    merged, adapters = dict(state), {}
    for name, layer in _lora_layers(model).items():
        a, b = merged.pop(f"{name}.lora_a"), merged.pop(f"{name}.lora_b")
        adapters[f"{name}.lora_a"], adapters[f"{name}.lora_b"] = a, b
        merged[f"{name}.weight"] = merged.pop(f"{name}.base.weight") + layer.scale * (b @ a)
        if f"{name}.base.bias" in merged:
            merged[f"{name}.bias"] = merged.pop(f"{name}.base.bias")
    return merged, adapters


def unmerge_lora_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Merged weights in the names of a LoRA model that keeps its layers: the merged matrix as the base weight
    and zero B, which computes the same (FSDP cannot swap the layers for plain ones, as lora.merge_lora does)."""
    out = dict(state)
    for name, layer in _lora_layers(model).items():
        if f"{name}.weight" not in out:
            continue
        weight = out[f"{name}.base.weight"] = out.pop(f"{name}.weight")
        if f"{name}.bias" in out:
            out[f"{name}.base.bias"] = out.pop(f"{name}.bias")
        out[f"{name}.lora_b"] = torch.zeros(weight.shape[0], layer.r, dtype=weight.dtype)
    return out


def model_weights(module):
    """Every rank (gathering FSDP's shards is collective): on rank 0 (weights, adapters, names trained whole) of
    `module.model` as a checkpoint holds them (LoRA merged, see framework/training/lora.py); None elsewhere."""
    from framework.training.lora import adapter_state, fully_trained, merged_state
    from framework.training.module import fsdp_root
    from framework.training.optim import unwrapped_name

    model, root = module.model, fsdp_root(module.trainer)
    if root is None:
        return (merged_state(model), adapter_state(model), fully_trained(model)) if module.trainer.is_global_zero \
            else None
    state = gathered_state(root)
    if state is None:
        return None
    state, adapters = merge_lora_state(model, without_tied_aliases(model, state))
    return state, adapters, [unwrapped_name(n) for n in fully_trained(model)]


def load_model_weights(module, state: dict[str, torch.Tensor]) -> None:
    """Every rank: load a checkpoint's weights into `module.model` (under FSDP collectively, each rank keeping
    its shard). The model's LoRA layers are merged first, or under FSDP, which cannot swap layers, given the
    merged matrix as their base weight and zero B."""
    from framework.training.lora import merge_lora
    from framework.training.module import fsdp_root

    root = fsdp_root(module.trainer)
    if root is None:
        merge_lora(module.model)
        module.model.load_state_dict(state, strict=False)
        return
    load_gathered(root, unmerge_lora_state(module.model, state))
