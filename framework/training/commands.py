"""`nlpf train` and `nlpf evaluate`."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from framework.errors import ConfigError, NlpfError, did_you_mean
from framework.training import launch, precision, rundir


def _compose(args: list[str]):
    from framework.config import load

    return load(args)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _prepare_run_dir(args: list[str]):
    """(config, run directory, Lightning checkpoint to resume or None) for this process.

    Rank 0 composes the config, chooses the run directory, freezes the config there and hands it to the other
    ranks: through the environment to the ranks Lightning starts, through framework.training.launch to the
    ranks torchrun or srun started beside it. The other ranks read that one frozen config."""
    from framework.config import load_frozen

    if rundir.is_spawned_rank():
        run_dir = Path(os.environ[rundir.RUN_DIR_ENV])
        ckpt = os.environ.get(rundir.RESUME_ENV) or None
        return load_frozen(run_dir), run_dir, (Path(ckpt) if ckpt else None)
    cfg = _compose(args)
    started = launch.external_launch()
    if started is None:
        return _set_up_run(cfg, args)
    launch.launch_timeout()  # a malformed NLPF_LAUNCH_TIMEOUT fails here, before any rank waits on it
    launch.check_world_size(started, cfg.trainer.devices, int(cfg.trainer.num_nodes))
    handoff = launch.Handoff(started, cfg.run_dir, cfg.experiment_name)
    if started.rank != 0:
        run_dir, ckpt = handoff.receive()
        return load_frozen(run_dir), run_dir, ckpt
    try:
        cfg, run_dir, ckpt = _set_up_run(cfg, args)
    except Exception as err:  # noqa: BLE001 - handed over, then raised as it is
        handoff.send(error=err.message if isinstance(err, NlpfError) else f"{type(err).__name__}: {err}")
        raise
    handoff.send(run_dir, ckpt)
    return cfg, run_dir, ckpt


def _unstarted(run_dir: Path) -> bool:
    """A run directory left by a run stopped before its first training step (a SIGTERM during start-up): its frozen
    config and at most a log header; no checkpoint, no metrics.json. Nothing there to resume or to lose."""
    if not (run_dir / "resolved.yaml").is_file() or (run_dir / rundir.DONE_FILE).exists():
        return False
    if any(p.is_file() for p in (run_dir / "checkpoints").rglob("*")):
        return False
    log = run_dir / "logs" / "metrics.csv"
    return not log.is_file() or len(log.read_text(errors="replace").splitlines()) <= 1


class StartupStop:
    """Until the first training step, SIGTERM stops `nlpf train` at once (as Preempted, nothing saved), so that it
    ends through the clean-up of any failure before the first step instead of dying with a half-made run directory.
    Lightning calls the SIGTERM handler it finds beside its own, so after the first step this one only steps aside
    (GracefulStop switches it off and saves the checkpoints)."""

    def __init__(self) -> None:
        self.active = False
        self._previous = None

    def __enter__(self) -> "StartupStop":
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
            self.active = True
        return self

    def __exit__(self, *exc) -> None:
        self.active = False
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _on_sigterm(self, signum, frame) -> None:
        if self.active:
            self.active = False
            raise rundir.Preempted("SIGTERM", -1, [])


def _stopped_before_training(signal_name: str, run_dir: Path, resumed: bool) -> rundir.Preempted:
    """A signal before the first step: nothing new to save; a new run's directory is removed (nothing to resume)."""
    stop = rundir.Preempted(signal_name, -1, [])
    stop.removed = None
    launch.remove_handoffs()
    if not resumed and not launch.is_secondary_rank():
        from framework.training.safety import discard_unstarted_run

        discard_unstarted_run(run_dir)
        stop.removed = None if run_dir.exists() else run_dir  # kept when it holds files of someone else's
    return stop


def _set_up_run(cfg, args=()):
    """Rank 0: adopt init_from's architecture, resolve precision, choose (or resume) the run directory, freeze."""
    from framework.config import check_max_length, check_pairing, freeze

    if cfg.get("init_from"):  # record the architecture and tokenizer actually used
        from framework.training.build import adopt_checkpoint_config, checkpoint_dir

        cfg, _ = adopt_checkpoint_config(cfg, checkpoint_dir(cfg.init_from), overrides=args)
        check_pairing(cfg)  # against the checkpoint's architecture, not the placeholder the config named
        check_max_length(cfg)
    if str(cfg.trainer.precision) == precision.AUTO:  # frozen resolved, so every rank and a resume agree
        cfg.trainer.precision, why = precision.resolve(cfg.trainer)
        _say(f"trainer.precision=auto: {cfg.trainer.precision} ({why})")
    if cfg.resume == "auto" and cfg.run_dir and _unstarted(Path(cfg.run_dir)):
        from framework.training.safety import discard_unstarted_run

        _say(f"resume=auto: run_dir={cfg.run_dir} holds a run stopped before its first step (no checkpoint, no "
             "logged step); starting it afresh")
        discard_unstarted_run(Path(cfg.run_dir))
    run_dir, ckpt = rundir.resolve_resume(cfg.resume, cfg.run_dir, cfg.experiment_name)
    if ckpt is not None and run_dir is not None and (run_dir / rundir.DONE_FILE).is_file():
        raise NlpfError(f"run {run_dir} already finished (it has {rundir.DONE_FILE}): resuming would train it again "
                        "and overwrite its results",
                        hint=f"to train longer, start a new run from its weights with init_from={run_dir} (and the "
                        "trainer.max_steps or trainer.max_epochs you want); resume= continues interrupted runs only")
    if cfg.resume and ckpt is None:
        _say(f"resume={cfg.resume}: no interrupted run of '{cfg.experiment_name}' to continue; starting a new run")
    if run_dir is None:
        run_dir = rundir.new_run_dir(cfg.experiment_name)
    run_dir = run_dir.resolve()
    cfg.run_dir = str(run_dir)
    if ckpt is not None:
        _say(f"resuming {run_dir} from {ckpt}")
        previous = run_dir / "resolved.yaml"
        if previous.is_file():  # an exact continuation needs the settings of the interrupted run
            old = OmegaConf.to_container(OmegaConf.load(previous), resolve=True) or {}
            diffs = rundir.changed_settings(old, OmegaConf.to_container(cfg, resolve=True))
            # what the saved weights and optimizer state were built for cannot change (checked before resolved.yaml
            # is rewritten: a refused resume leaves the interrupted run as it was)
            fixed = [g for g in rundir.FIXED_ON_RESUME if old.get(g) is not None]
            shape = [d for d in diffs if d.split(":")[0].split(".")[0] in fixed]
            if shape:
                raise ConfigError(f"resuming {run_dir} with another model than it trained: " + "; ".join(shape[:5])
                                  + (" ..." if len(shape) > 5 else ""),
                                  hint="repeat the command that started the run (its settings are in "
                                  f"{previous}), changing only trainer.* keys, or start a new run with "
                                  f"init_from={run_dir}")
            if diffs:
                _say("warning: resuming with settings that differ from the interrupted run: " + "; ".join(diffs[:8])
                     + (" ..." if len(diffs) > 8 else ""))
    freeze(cfg, run_dir)
    os.environ[rundir.RUN_DIR_ENV] = str(run_dir)
    if ckpt is not None:
        os.environ[rundir.RESUME_ENV] = str(ckpt)
    else:
        os.environ.pop(rundir.RESUME_ENV, None)
    return cfg, run_dir, ckpt


def _checkpoint_activations(model) -> None:
    from framework.training.memory import checkpoint_activations

    if not checkpoint_activations(model):
        raise ConfigError("trainer.activation_checkpointing=true, but this model has no transformer layers "
                          "(framework.modules.TransformerLayer) to checkpoint",
                          hint="set trainer.activation_checkpointing=false for this model")


def _apply_lora(run) -> None:
    from framework.training.launch import is_secondary_rank
    from framework.training.lora import apply_lora, parameter_counts
    from framework.training.optim import freeze

    apply_lora(run.model, run.cfg.lora)
    freeze(run.model, run.cfg.optim.get("freeze"))  # as TrainModule does next: counted is what trains
    trainable, total = parameter_counts(run.model)
    if not is_secondary_rank():
        print(f"lora: rank {run.cfg.lora.r} adapters on {', '.join(map(str, run.cfg.lora.targets))}; "
              f"training {trainable:,} of {total:,} parameters ({100 * trainable / total:.2f}%)")


def _fit_setup_error(err: ValueError, cfg) -> Exception:
    """Lightning checks val_check_interval against the epoch only when fit starts: name our key for it."""
    import re

    found = re.search(r"`val_check_interval` \((\d+)\) must be less than or equal to .*?\((\d+)\)", str(err))
    if not found:
        return err
    asked, batches = found.groups()
    return ConfigError(f"trainer.val_check_interval={asked} is more than the {batches} training batches of an epoch",
                       hint=f"use trainer.val_check_interval={batches} or less, or trainer.val_check_interval=null "
                            "to validate at the end of each epoch")


def _raise_as(converted: Exception, err: Exception):
    """Raise our clearer error in place of Lightning's, or the original one unchanged (with its context)."""
    if converted is err:
        raise err
    raise converted from None


def _unused_parameters_error(err: RuntimeError, module) -> Exception:
    """DDP stops when a step leaves trained parameters without a gradient: name our setting for it."""
    if "not used in producing the loss" not in str(err) and "Expected to have finished reduction" not in str(err):
        return err
    return ConfigError(f"DDP: a training step left some of the {type(module.model.backbone).__name__} model's "
                       "trained parameters without a gradient (a layer or head part its forward did not use)",
                       hint="with trainer=ddp, set trainer.find_unused_parameters=true (DDP then looks for them "
                            "every step, which costs some speed), or freeze what is never used with "
                            "optim.freeze=[PREFIX,...]")


def _save_fn(run, module):
    from framework.checkpoint import save_checkpoint
    from framework.training.callbacks import model_weights

    def save(directory: Path, step: int) -> None:
        """Every rank calls it (under FSDP the weights are gathered from all ranks); rank 0 writes."""
        weights = model_weights(module)
        if weights is None:  # not rank 0
            return
        state, adapters, trained = weights
        meta = {"step": int(step)}
        if adapters:  # kept beside the merged weights, for `nlpf export peft`
            meta["lora"] = {"r": int(run.cfg.lora.r), "alpha": float(run.cfg.lora.alpha), "trained": trained}
        save_checkpoint(directory, module.model, run.cfg, run.tokenizer, meta=meta, state=state, adapters=adapters)

    return save


def _print_metrics(split: str, metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        print(f"{split} {name} {value:.4f}")


def run_training(args: list[str]) -> dict:
    cfg, run_dir, resume_ckpt = _prepare_run_dir(args)  # first, so config mistakes are reported before torch loads
    with StartupStop() as startup:
        try:
            return _run(cfg, run_dir, resume_ckpt, startup)
        except rundir.Preempted as stop:
            if stop.step >= 0 or hasattr(stop, "removed"):
                raise
            raise _stopped_before_training(stop.signal_name, run_dir, resume_ckpt is not None) from None


def _run(cfg, run_dir: Path, resume_ckpt: Path | None, startup: StartupStop) -> dict:
    import pytorch_lightning as pl
    import torch

    from framework.training import safety
    from framework.training.build import build_run
    from framework.training.datamodule import DataModule
    from framework.training.module import TrainModule, monitor_for
    from framework.training.trainer import make_trainer

    trainer = None
    try:
        if resume_ckpt is not None:  # refuse a damaged or code-carrying checkpoint before building anything
            safety.check_training_checkpoint(resume_ckpt)
        precision.check(cfg.trainer)
        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
        torch.set_float32_matmul_precision("high")
        if cfg.trainer.keep_freed_memory:
            from framework.training.memory import keep_freed_memory

            keep_freed_memory()
        run = build_run(cfg)
        if run.cfg.trainer.activation_checkpointing:
            _checkpoint_activations(run.model)
        if str(run.cfg.trainer.strategy).startswith("fsdp"):
            from framework.training.trainer import check_fsdp_wrap

            check_fsdp_wrap(run.model, run.cfg.trainer.get("fsdp_wrap"))
        if run.cfg.lora.r:
            _apply_lora(run)
        module = TrainModule(run.cfg, run.model, run.objective, run.labels)
        if run.cfg.trainer.compile:
            module.model.compile()
        datamodule = DataModule(run.cfg, run.datasets, run.tokenizer, run.objective.task)
        monitor, mode = monitor_for(run.objective.task, run.labels)
        trainer, nlpf_ckpt = make_trainer(run.cfg, run_dir, monitor, mode, _save_fn(run, module), startup)
        start = time.perf_counter()
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_ckpt) if resume_ckpt else None)
        except ValueError as err:
            _raise_as(_fit_setup_error(err, cfg), err)
        except RuntimeError as err:
            _raise_as(_unused_parameters_error(err, module), err)
    except safety.SIGTERMException:
        stop = next(c for c in trainer.callbacks if isinstance(c, safety.GracefulStop))
        if stop.saved or launch.is_secondary_rank():
            raise stop.preempted(trainer) from None
        raise _stopped_before_training(stop.signal_name or "SIGTERM", run_dir, resume_ckpt is not None) from None
    except BaseException as err:
        launch.remove_handoffs()
        if (trainer is None or trainer.global_step == 0 or isinstance(err, ConfigError)) and not launch.is_secondary_rank():
            safety.discard_unstarted_run(run_dir)  # a mistake leaves no half-made run directory (keeps checkpoints)
        raise
    train_seconds = time.perf_counter() - start
    best = run_dir / "checkpoints" / "best" / "model.safetensors"
    if best.is_file():  # test the best weights, not merely the last ones (every rank: FSDP loads collectively)
        from framework.checkpoint import read_weights
        from framework.training.callbacks import load_model_weights

        load_model_weights(module, read_weights(best))  # checkpoints hold merged weights
    results = {}
    if "test" in run.datasets:
        trainer.test(module, datamodule=datamodule, verbose=False)
        results = dict(getattr(module, "test_results", {}))
    if trainer.is_global_zero and run.objective.task == "seq2seq" and "test" in run.datasets:
        from framework.training.translation import translation_scores

        results.update(translation_scores(module.model, run.tokenizer, run.cfg, run.source.splits()["test"]))
    if trainer.is_global_zero:
        speed = next((c for c in trainer.callbacks if type(c).__name__ == "TokensPerSecond"), None)
        before = speed.seconds_before if speed else 0.0  # a resumed run: the interrupted part's seconds too
        summary = {"test": results, "train_seconds": round(train_seconds + before, 1), "global_step": trainer.global_step,
                   "epochs": speed.epochs if speed else [], "run_dir": str(run_dir)}
        (run_dir / rundir.DONE_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        _print_metrics("test", results)
        _say(f"run directory: {run_dir}")
    return results


def _per_job_run_dir(args: list[str], ctx) -> list[str]:
    """A sweep (--multirun) with run_dir=DIR: each job in its own DIR/N, N the job's number, as Hydra gives each
    job its own directory (one DIR for all would hold job 0's run when job 1 starts)."""
    if not getattr(ctx, "multirun", False) or not any(a.startswith("run_dir=") for a in args):
        return args
    number = ctx.job_num
    return [f"{a.rstrip('/')}/{number}" if a.startswith("run_dir=") else a for a in args]


def train(args: list[str], ctx) -> int:
    args = _per_job_run_dir(args, ctx)
    try:
        run_training(args)
    except rundir.Preempted as stop:  # SIGTERM/SIGINT: checkpoint saved, exit 128 + signal number
        if hasattr(stop, "removed"):  # before the first step: nothing new to save
            if stop.removed is not None:
                _say(f"stopped by {stop.signal_name} before the first training step; removed the unstarted run "
                     f"directory {stop.removed}")
                _say("  hint: run the same command again to start it")
            else:
                _say(f"stopped by {stop.signal_name} before the first training step; nothing new saved")
                _say(f"  hint: {rundir.RESUME_HINT}")
            return stop.exit_code
        _say(f"stopped by {stop.signal_name} after step {stop.step}; saved "
             + (", ".join(str(p) for p in stop.saved) or "nothing (not rank 0)"))
        _say(f"  hint: {rundir.RESUME_HINT}")
        return stop.exit_code
    return 0


def _with_overrides(data, overrides):
    """The checkpoint's data node with `data.KEY=VALUE` overrides applied, values read by Hydra's grammar."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    node = OmegaConf.create({"data": OmegaConf.to_container(data, resolve=True)})
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception as err:  # noqa: BLE001 - Hydra's own parse error, one line
        raise NlpfError(f"cannot parse the data overrides: {str(err).splitlines()[0]}",
                        hint="they look like data.KEY=VALUE, data.label_map={1:spam,0:ham}") from None
    for o in parsed:
        OmegaConf.update(node, o.key_or_group, o.value(), merge=False)
    return node.data


def _batches(value: str):
    """Lightning's rule, as for trainer.limit_*_batches: a whole number counts batches, 0.25 is a fraction."""
    try:
        number = float(value)
    except ValueError:
        raise NlpfError(f"invalid value '{value}' for 'limit_batches'", hint="a number of batches (3) or a "
                        "fraction (0.25)") from None
    return int(number) if value.strip().isdigit() or number > 1 else number


_EVALUATE_OWN = ("ckpt", "split", "batch_size", "max_length", "precision", "accelerator", "limit_batches")


def _parse_evaluate(args: list[str]) -> tuple[dict, list[str], list[str]]:
    """(own arguments, data overrides, decoding options for translation metrics as key=value)."""
    from framework.inference.options import GenerationOptions

    decoding_keys = tuple(GenerationOptions.__dataclass_fields__)
    own, overrides, decoding = {}, [], []
    for a in args:
        key, eq, value = a.partition("=")
        if not eq:
            raise NlpfError(f"cannot parse argument '{a}'", hint="nlpf evaluate ckpt=PATH [split=test] [data=NAME] "
                            "[batch_size=N] [max_length=N] [data.KEY=VALUE] [num_beams=N ...]")
        if key in _EVALUATE_OWN:
            own[key] = value
        elif key == "data" or key.startswith("data."):
            overrides.append(a)
        elif key in decoding_keys:
            decoding.append(a)
        elif key in ("device", "dtype"):  # the inference commands' names: evaluate runs through Lightning
            theirs = {"device": "accelerator=cpu|gpu", "dtype": "precision=32|bf16-mixed"}[key]
            raise NlpfError(f"nlpf evaluate takes {theirs.split('=')[0]}=, not {key}=",
                            hint=f"it runs the test loop through Lightning: {theirs}")
        else:
            raise NlpfError(f"unknown argument '{key}' for nlpf evaluate."
                            + did_you_mean(key, _EVALUATE_OWN + decoding_keys),
                            hint="arguments: ckpt=PATH split=test|validation|train data=NAME data.KEY=VALUE "
                            "batch_size=N max_length=N precision=32|bf16-mixed accelerator=auto|cpu|gpu, and for "
                            "translation metrics the decoding options of nlpf translate (num_beams=4, ...)")
    if "ckpt" not in own:
        raise NlpfError("nlpf evaluate needs ckpt=PATH", hint="a checkpoint directory or a run directory")
    _check_evaluate_choices(own)
    return own, overrides, decoding


def _check_evaluate_choices(own: dict) -> None:
    """split, precision and accelerator, checked before the checkpoint and the data load."""
    import importlib.util

    import torch

    from framework.schema import ACCELERATORS, PRECISIONS

    choices = {"split": ("test", "validation", "train"), "precision": tuple(p for p in PRECISIONS if p != "auto"),
               "accelerator": ACCELERATORS}
    for key, allowed in choices.items():
        if key in own and own[key] not in allowed:
            raise NlpfError(f"invalid value '{own[key]}' for '{key}'." + did_you_mean(own[key], allowed),
                            hint=f"choose one of {', '.join(allowed)}")
    accelerator, precision = own.get("accelerator", "auto"), own.get("precision", "32")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise NlpfError(f"accelerator={accelerator}, but this machine has no CUDA GPU", hint="use accelerator=cpu or auto")
    if accelerator == "tpu" and importlib.util.find_spec("torch_xla") is None:
        raise NlpfError("accelerator=tpu needs torch_xla, which is not installed", hint="use accelerator=cpu or auto")
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if precision in ("16-mixed", "16") and on_cpu:
        raise NlpfError(f"precision={precision} needs a GPU (float16 autocast is not supported on the CPU)",
                        hint="use precision=bf16-mixed or 32 on the CPU")


def _decoding(pairs: list[str]) -> dict:
    """Decoding options from key=value arguments, typed and checked like nlpf translate's."""
    from framework.inference.commands import parse_args
    from framework.inference.generation import resolve_options
    from framework.inference.options import GenerationOptions

    given = parse_args(GenerationOptions, pairs)  # as nlpf translate parses them (stop= keeps its spaces)
    resolve_options(given)  # a bad value names its key now, not after the test pass
    if given.num_return_sequences != 1:
        raise NlpfError("translation metrics score one output per source",
                        hint="drop num_return_sequences (beam search still searches num_beams hypotheses)")
    return {k: getattr(given, k) for k in (p.partition("=")[0] for p in pairs)}


def evaluate(args: list[str], ctx) -> int:
    """Load a checkpoint alone (its config, tokenizer and weights) and report metrics on a split."""
    import pytorch_lightning as pl

    from framework.checkpoint import check_vocabulary, load_checkpoint
    from framework.config import check_max_length, compose, validate_component
    from framework.data.pipeline import build_datasets, build_source
    from framework.tokenizers import load_tokenizer
    from framework.training.build import build_objective, checkpoint_dir
    from framework.training.datamodule import DataModule
    from framework.training.module import TrainModule
    from framework.training.trainer import quiet_lightning

    own, overrides, decoding = _parse_evaluate(args)
    decoding = _decoding(decoding)  # checked before anything loads
    directory = checkpoint_dir(own["ckpt"], key="ckpt")
    model, cfg = load_checkpoint(directory)
    tokenizer = load_tokenizer(directory / "tokenizer")
    check_vocabulary(cfg, tokenizer, directory)
    if any(o.startswith("data=") for o in overrides):  # another data set than the one it was trained on
        cfg.data = validate_component("data", compose(overrides).data)
    elif overrides:  # the same data set with other keys, parsed as `nlpf train` parses them (maps set whole)
        cfg.data = validate_component("data", _with_overrides(cfg.data, overrides))
    for key in ("batch_size", "max_length"):
        if key in own:
            if not own[key].isdigit() or int(own[key]) < 1:
                raise NlpfError(f"invalid value '{own[key]}' for '{key}': must be a whole number >= 1",
                                hint=f"e.g. {key}={cfg.get(key)}")
            cfg[key] = int(own[key])
    check_max_length(cfg)
    split = own.get("split", "test")
    objective = build_objective(cfg, tokenizer)
    if decoding and objective.task != "seq2seq":
        raise NlpfError(f"decoding options ({', '.join(decoding)}) only apply to translation metrics",
                        hint="they are for encoder-decoder (seq2seq) checkpoints; drop them for this one")
    source = build_source(cfg.data)
    labels = list(cfg.get("labels") or []) or None  # the label ids the model was trained with
    datasets = build_datasets(cfg.data, tokenizer, objective.task, int(cfg.max_length), seed=int(cfg.seed),
                              source=source, labels=labels)
    if split not in datasets:
        raise NlpfError(f"the data has no '{split}' split", hint=f"choose one of {', '.join(datasets)}")
    cfg.trainer.on_nan = "skip"
    pl.seed_everything(int(cfg.seed), verbose=False)  # objectives that draw (masked LM) score the same masks each time
    module = TrainModule(cfg, model, objective, list(cfg.get("labels") or []))
    datamodule = DataModule(cfg, {"test": datasets[split]}, tokenizer, objective.task)
    quiet_lightning()
    trainer = pl.Trainer(accelerator=own.get("accelerator", "auto"), devices=1,
                         precision=own.get("precision", "32"), logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         limit_test_batches=_batches(own["limit_batches"]) if "limit_batches" in own else None)
    trainer.test(module, datamodule=datamodule, verbose=False)
    results = dict(module.test_results)
    if objective.task == "seq2seq":
        from framework.training.translation import translation_scores

        results.update(translation_scores(model, tokenizer, cfg, source.splits()[split], **decoding))
    _print_metrics(split, results)
    return 0
