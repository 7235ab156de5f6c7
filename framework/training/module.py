"""The LightningModule: a TaskModel (backbone + head) trained with an objective; metrics by task."""
from __future__ import annotations

import sys

import pytorch_lightning as pl
import torch

from framework.data.sampler import LengthBucketBatchSampler
from framework.errors import ConfigError
from framework.metrics import TaskMetrics
from framework.training.optim import build_optimizer, build_scheduler, decayed_names, freeze

# metric that picks the best checkpoint and drives early stopping, per task: (name, mode)
MONITOR = {
    "classification": ("val/accuracy", "max"),
    "multilabel": ("val/micro_f1", "max"),
    "token_classification": ("val/entity_f1", "max"),
    "qa": ("val/f1", "max"),
    "lm": ("val/loss", "min"),
    "seq2seq": ("val/loss", "min"),
}


def monitor_for(task: str, labels) -> tuple[str, str]:
    if task in ("classification", "multilabel", "token_classification") and not labels:
        return "val/loss", "min"
    return MONITOR.get(task, ("val/loss", "min"))


class NonFiniteWatch:
    """Remembers the first training step whose loss was NaN or infinite, on the loss's device, so that watching
    costs no host sync; `raise_if_seen` (one sync) stops the run naming that step and loss."""

    def __init__(self):
        self.step = None  # tensor: first bad step, -1 while every loss was finite
        self.loss = None

    def record(self, loss: torch.Tensor, step: int) -> None:
        loss = loss.detach()
        if self.step is None:
            self.step = torch.full((), -1, dtype=torch.long, device=loss.device)
            self.loss = torch.zeros((), dtype=loss.dtype, device=loss.device)
        first = (self.step < 0) & ~torch.isfinite(loss)
        self.step = torch.where(first, step, self.step)
        self.loss = torch.where(first, loss, self.loss)

    def raise_if_seen(self) -> None:
        if self.step is None or int(self.step) < 0:
            return
        from framework.errors import NlpfError

        raise NlpfError(
            f"the training loss became {self.loss.item()} at step {int(self.step)}",
            hint="lower optim.lr, set trainer.gradient_clip_val=1.0 or precision=bf16-mixed instead of 16-mixed; "
            "trainer.on_nan=skip skips such batches",
        )


OBJECTIVE_DOCS = "docs/extending.md, 'Objective: build(cfg, tokenizer) -> Objective'"


def describe_objective(cfg, objective) -> str:
    """How errors name the run's objective: "objective 'x' from nlpf-foo 1.0", or its class when unregistered."""
    from framework.errors import NlpfError
    from framework.model import component
    from framework.plugins import registries

    try:
        return component(registries().objective.get(str(cfg.objective.name)))
    except (NlpfError, AttributeError, KeyError):
        return f"objective {type(objective).__name__}"


def check_loss(loss, cfg, objective) -> None:
    """A loss must be a scalar tensor (one element, as Lightning and backward() accept): Lightning would fail
    later on anything else, naming neither the objective nor its plugin."""
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        return
    got = f"a tensor of shape {list(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
    raise ConfigError(f"{describe_objective(cfg, objective)}: {type(objective).__name__}.loss() returned {got}, "
                      "not a scalar tensor", hint=f"reduce it to the mean over the batch in loss(), e.g. "
                      f"`return losses.mean()` ({OBJECTIVE_DOCS})")


def _handles_unscaling(optimizer) -> bool:
    """Lightning's own rule: an optimizer whose step unscales the gradients itself (a fused Adam) is left
    scaled until its step."""
    from lightning_fabric.plugins.precision.amp import _optimizer_handles_unscaling

    return _optimizer_handles_unscaling(optimizer)


def clip_gradients(optimizer, clip_val: float, algorithm: str = "norm", scaler=None, fsdp_root=None) -> None:
    """Clip the gradients of `optimizer`'s parameters to `clip_val` by their total norm or by value.

    `scaler`: the mixed-precision gradient scaler (16-mixed), whose scaled gradients are unscaled first where
    Lightning left them scaled (a fused optimizer); the scaler's step then finds them unscaled and does not
    unscale again. `fsdp_root`: the root FSDP module, whose `clip_grad_norm_` takes the norm over every
    rank's shards (a per-rank norm would clip each shard differently)."""
    if scaler is not None and _handles_unscaling(optimizer):
        scaler.unscale_(optimizer)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if algorithm == "value":  # GradClipAlgorithmType compares equal to its string
        torch.nn.utils.clip_grad_value_(params, clip_val)
    elif fsdp_root is not None:
        fsdp_root.clip_grad_norm_(clip_val)
    else:
        torch.nn.utils.clip_grad_norm_(params, clip_val)


def fsdp_root(trainer):
    """The root FullyShardedDataParallel module of a run under FSDP, else None."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    model = getattr(trainer.strategy, "model", None)
    return model if isinstance(model, FullyShardedDataParallel) else None


class TrainModule(pl.LightningModule):
    def __init__(self, cfg, model: torch.nn.Module, objective, labels: list[str] | None = None):
        super().__init__()
        loss = getattr(objective, "loss", None)
        if not callable(loss) or getattr(loss, "__isabstractmethod__", False):  # caught before any step runs
            raise ConfigError(f"{describe_objective(cfg, objective)}: {type(objective).__name__} does not implement "
                              "loss(output, batch)", hint="define `def loss(self, output, batch)` returning a scalar "
                              f"tensor in the Objective subclass ({OBJECTIVE_DOCS})")
        self.cfg, self.model, self.objective = cfg, model, objective
        # frozen now, before DDP wraps the model: it expects a gradient for every parameter that requires one
        freeze(model, cfg.optim.get("freeze"))
        # read now: Lightning builds the optimizer after FSDP has flattened the parameters it shards to 1-d
        self.decayed = decayed_names(model)
        self.labels = list(labels or [])
        kwargs = {"max_answer_length": objective.max_answer_length} if objective.task == "qa" else {}
        self.val_metrics = TaskMetrics(objective.task, self.labels, **kwargs)
        self.test_metrics = TaskMetrics(objective.task, self.labels, **kwargs)
        self.on_nan = str(cfg.trainer.on_nan)
        self.nonfinite = NonFiniteWatch()

    def forward(self, batch: dict):
        return self.objective.forward(self.model, batch)

    def _step(self, batch: dict):
        batch = self.objective.prepare(batch)
        output = self(batch)
        loss = self.objective.loss(output, batch)
        check_loss(loss, self.cfg, self.objective)
        return batch, output, loss

    def training_step(self, batch, batch_idx):
        batch, output, loss = self._step(batch)
        if self.on_nan == "skip":  # deciding per batch needs the value on the host: one sync per step
            if not torch.isfinite(loss):
                self.print(f"warning: non-finite loss at step {self.global_step}, batch skipped")
                return None
        else:
            self.nonfinite.record(loss, self.global_step)
            if self._check_due():
                self.nonfinite.raise_if_seen()
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=batch["input_ids"].size(0))
        return loss

    def _check_due(self) -> bool:
        """Look at the recorded losses on the host only every log_every_n_steps steps (Lightning syncs there to
        log anyway), and before anything could save the weights: a checkpoint step, the last step of an epoch
        or of the run. on_validation_start checks before validation (which saves the best checkpoint)."""
        trainer, step = self.trainer, self.global_step + 1
        every = [int(trainer.log_every_n_steps or 1), int(self.cfg.trainer.get("checkpoint_every_n_steps") or 0)]
        if any(n > 0 and step % n == 0 for n in every):
            return True
        return bool(trainer.is_last_batch) or (trainer.max_steps is not None and 0 < trainer.max_steps <= step)

    def on_validation_start(self):
        if self.on_nan != "skip":
            self.nonfinite.raise_if_seen()

    def _eval_step(self, batch, batch_idx: int, metrics: TaskMetrics, loader):
        batch, output, loss = self._step(batch)  # a repeated batch runs too: every rank makes the same calls
        own = own_batches(loader)
        if own is None or batch_idx < own:
            metrics.update(output.logits, batch, loss, self.objective.count_targets(batch))

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, batch_idx, self.val_metrics, self.trainer.val_dataloaders)

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, batch_idx, self.test_metrics, self.trainer.test_dataloaders)

    def _log_metrics(self, metrics: TaskMetrics, prefix: str) -> dict[str, float]:
        values = metrics.compute()
        metrics.reset()
        # compute() already gathered every rank's counts; sync_dist averages equal values (a no-op) and keeps
        # Lightning from warning about unsynced epoch-level logs under DDP
        self.log_dict({f"{prefix}/{k}": v for k, v in values.items()}, prog_bar=prefix == "val", sync_dist=True)
        return values

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self._log_metrics(self.val_metrics, "val")
        else:
            self.val_metrics.reset()

    def on_test_epoch_end(self):
        self.test_results = self._log_metrics(self.test_metrics, "test")

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        # clipped here, not by Lightning's precision plugins: they refuse a fused optimizer under mixed precision
        # and the norm under FSDP (trainer.gradient_clip_val)
        if not gradient_clip_val:
            return
        clip_gradients(optimizer, float(gradient_clip_val), gradient_clip_algorithm or "norm",
                       scaler=getattr(self.trainer.precision_plugin, "scaler", None), fsdp_root=fsdp_root(self.trainer))

    def configure_optimizers(self):
        optimizer = build_optimizer(self.model, self.cfg.optim, self.decayed)
        fit_loop = self.trainer.fit_loop
        built = fit_loop._combined_loader is not None
        total = self.trainer.estimated_stepping_batches
        if total == float("inf"):  # trainer.max_time alone ends the run
            optim = self.cfg.optim
            needs = (f"optim.scheduler={optim.scheduler}" if str(optim.scheduler) != "constant" else
                     f"optim.warmup_ratio={optim.warmup_ratio}" if float(optim.warmup_ratio)
                     and not int(optim.warmup_steps) else None)
            if needs:
                raise ConfigError(f"{needs} needs the number of training steps, which trainer.max_time alone "
                                  "leaves open", hint="set trainer.max_steps=N, or use optim.scheduler=constant "
                                  "with optim.warmup_steps=N (or optim.warmup_ratio=0)")
            total = 0
        total = int(total)
        warmup = int(self.cfg.optim.warmup_steps)
        if warmup and total and warmup >= total and self.trainer.is_global_zero:
            print(f"warning: optim.warmup_steps={warmup} is not below the {total} training steps: the learning rate "
                  "never reaches optim.lr", file=sys.stderr)
        if not built:
            # counting the steps built the train loader before a resumed run's checkpoint is loaded, and Lightning
            # restores a loader's position only into one built after that: let the fit loop build it again
            fit_loop._combined_loader = None
        scheduler = build_scheduler(optimizer, self.cfg.optim, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def own_batches(loader) -> int | None:
    """How many leading batches of an evaluation loader are this rank's own (None: all of them)."""
    sampler = getattr(loader, "batch_sampler", None)
    return sampler.own_batches() if isinstance(sampler, LengthBucketBatchSampler) else None
