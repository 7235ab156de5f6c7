"""The Lightning Trainer from `cfg.trainer`: strategy, precision, loggers and callbacks."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

from framework.errors import ConfigError, did_you_mean
from framework.training import precision



def _loggers(names, run_dir: Path, flush_every: int = 100):
    from pytorch_lightning.loggers import TensorBoardLogger

    from framework.training.safety import ContinuingCSVLogger

    out = []
    for name in names or []:
        if name == "csv":  # a resumed run continues the log (Lightning's CSVLogger would delete it)
            out.append(ContinuingCSVLogger(save_dir=str(run_dir), name="logs", version="",
                                           flush_logs_every_n_steps=flush_every))
        elif name == "tensorboard":
            out.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=""))
        # other names are refused with the config (framework.schema.TrainerConfig)
    return out or False


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("\N{ELECTRIC LIGHT BULB} Tip")


def quiet_lightning() -> None:
    """Silence what Lightning prints that a user cannot act on: its "Tip: try installing litlogger/litmodels"
    advertisements, and torch's deprecation warning about `LeafSpec`, which Lightning's own code triggers.
    Lightning's other messages (devices found, warnings about the run) are kept."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
    # data.validation_ratio=0 / test_ratio=0 ask for no such split: nothing to warn about
    warnings.filterwarnings("ignore", message=r"Total length of `.*` across ranks is zero")


def check_fsdp_wrap(model, names) -> None:
    """Each class name in trainer.fsdp_wrap is the class of some module of the model. Names, not import paths: a
    config never makes nlpf import code (docs/reliability.md)."""
    present = sorted({type(m).__name__ for m in model.modules()})
    for name in names or []:
        if str(name) not in present:
            raise ConfigError(f"trainer.fsdp_wrap: no module of this model is a '{name}'." + did_you_mean(str(name), present),
                              hint=f"module classes of the model: {', '.join(present)}; [] shards it as one unit")


def fsdp_wrap_policy(names):
    """FSDP's policy that makes every module whose class is named in trainer.fsdp_wrap its own unit (gathered only
    while it runs, so a rank holds one layer's full weights at a time), or None for [] (the model is one unit)."""
    from torch.distributed.fsdp.wrap import CustomPolicy

    wanted = {str(n) for n in names or []}
    return CustomPolicy(lambda module: type(module).__name__ in wanted) if wanted else None


def _strategy(t):
    strategy = str(t.strategy)
    if strategy in ("fsdp", "fsdp_cpu_offload"):
        from pytorch_lightning.strategies import FSDPStrategy

        return FSDPStrategy(auto_wrap_policy=fsdp_wrap_policy(t.get("fsdp_wrap")),
                            sharding_strategy=str(t.get("fsdp_sharding") or "FULL_SHARD"),
                            cpu_offload=strategy == "fsdp_cpu_offload")
    if strategy == "ddp":
        from pytorch_lightning.strategies import DDPStrategy

        # off by default (Lightning's default too): looking for unused parameters walks the autograd graph every
        # step; a model that leaves some without a gradient gets a clear error that names the setting
        return DDPStrategy(find_unused_parameters=bool(t.find_unused_parameters),
                           process_group_backend="gloo" if str(t.accelerator) == "cpu" else None)
    return strategy


def _lightning_message(err: Exception) -> str:
    """Lightning's message on one line, every line of it: its first often says what was asked ("You requested gpu:
    [0, ..., 7]") and the next what is there ("But your machine only has: [0, 1, 2, 3]")."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip())


def max_epochs(t) -> int:
    """trainer.max_epochs; null: one epoch, or no epoch limit when trainer.max_steps or trainer.max_time decides
    (as in Lightning)."""
    if t.get("max_epochs") is not None:
        return int(t.max_epochs)
    return -1 if int(t.max_steps) > 0 or t.get("max_time") else 1


def make_trainer(cfg, run_dir: Path, monitor: str, mode: str, save, startup=None):
    """(Trainer, NlpfCheckpoint callback). Lightning's own checkpoint (for exact resume) goes to
    RUN_DIR/checkpoints/lightning/last.ckpt; nlpf checkpoints to RUN_DIR/checkpoints/{best,last}."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor

    from framework.training.callbacks import AtomicModelCheckpoint, LaunchJoined, NlpfCheckpoint, TokensPerSecond
    from framework.training.callbacks_resume import ResumePoint
    from framework.training.safety import AtomicCheckpointIO, ContinueLog, GracefulStop, RngStates

    quiet_lightning()
    t = cfg.trainer
    nlpf_ckpt = NlpfCheckpoint(run_dir / "checkpoints", save, monitor, mode)
    callbacks = [
        LaunchJoined(),
        TokensPerSecond(every=max(int(t.log_every_n_steps), 1)),
        nlpf_ckpt,
        RngStates(),
        ResumePoint(),  # every Lightning checkpoint a point it resumes exactly from (also mid-validation, epoch ends)
        ContinueLog(),
        GracefulStop(run_dir / "checkpoints" / "lightning" / "last.ckpt", save, run_dir / "checkpoints" / "last",
                     startup),
        AtomicModelCheckpoint(dirpath=str(run_dir / "checkpoints" / "lightning"), filename="step{step}",
                        save_last=True, save_top_k=0, every_n_train_steps=t.checkpoint_every_n_steps,
                        save_on_train_epoch_end=True),
    ]
    if t.enable_progress_bar:
        from framework.training.progress import ProgressBar

        callbacks.append(ProgressBar())
    if t.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=int(t.early_stopping_patience)))
    # the CSV log is flushed at least as often as checkpoints are saved, so a crash loses no logged step
    # that the resumed run will not log again
    loggers = _loggers(t.loggers, run_dir, min(100, int(t.checkpoint_every_n_steps or 100)))
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    kwargs = dict(
        accelerator=str(t.accelerator), devices=t.devices, num_nodes=int(t.num_nodes), strategy=_strategy(t),
        precision=precision.resolve(t)[0], max_epochs=max_epochs(t), max_steps=int(t.max_steps),
        max_time=t.max_time, check_val_every_n_epoch=int(t.check_val_every_n_epoch),
        accumulate_grad_batches=int(t.accumulate_grad_batches), gradient_clip_val=t.gradient_clip_val,
        log_every_n_steps=int(t.log_every_n_steps), deterministic=bool(t.deterministic),
        enable_progress_bar=bool(t.enable_progress_bar), num_sanity_val_steps=int(t.num_sanity_val_steps),
        default_root_dir=str(run_dir), callbacks=callbacks, logger=loggers,
        use_distributed_sampler=False,  # the DataModule shards batches itself (resumable, length-bucketed)
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],  # atomic last.ckpt, read back with weights_only=True
    )
    for key in ("val_check_interval", "limit_train_batches", "limit_val_batches", "limit_test_batches"):
        value = t.get(key)
        if value is not None:  # Lightning's rule: an int counts batches, a float is a fraction (2.0 counts too)
            kwargs[key] = int(value) if isinstance(value, int) or float(value) > 1 else float(value)
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        return pl.Trainer(**kwargs), nlpf_ckpt
    except (MisconfigurationException, ValueError, TypeError, RuntimeError, ImportError) as err:
        raise ConfigError(f"Lightning cannot set up this trainer: {_lightning_message(err)}",
                          hint=f"check trainer.accelerator={t.accelerator}, trainer.devices={t.devices}, "
                          f"trainer.strategy={t.strategy}, trainer.precision={t.precision} "
                          "(`nlpf config` prints the composed trainer)") from None
