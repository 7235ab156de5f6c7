"""nlpf checkpoint directories: model.safetensors, config.yaml, tokenizer/, meta.json (see docs/internals.md).

Saving is atomic: everything is written into a temporary directory beside the target, fsynced, then renamed
into place, so a crash never leaves a half-written checkpoint behind.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from framework.atomic import atomic_directory, check_replaceable
from framework.errors import NlpfError

WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"
META = "meta.json"
TOKENIZER_DIR = "tokenizer"
ADAPTERS = "adapters.safetensors"  # a LoRA run's adapters, beside the merged weights (for `nlpf export peft`)
CHECKPOINT_FILES = {WEIGHTS, CONFIG, META, TOKENIZER_DIR, ADAPTERS}


# config group -> the registry its `name` is looked up in
COMPONENT_GROUPS = {"tokenizer": "tokenizer", "model": "architecture", "objective": "objective", "head": "head",
                    "data": "data"}


NEEDED_TO_LOAD = ("tokenizer", "model", "head")


def _components(cfg) -> list[dict]:
    """Which distribution provided each component of the run, so a load can name what is missing."""
    from framework.plugins import registries

    found = []
    for group, kind in COMPONENT_GROUPS.items():
        node = cfg.get(group)
        name = node.get("name") if hasattr(node, "get") else None
        if name and name in registries()[kind]:
            origin = registries()[kind].get(name).origin
            found.append({"registry": kind, "name": name, "distribution": origin.distribution,
                          "version": origin.version, "plugin": origin.plugin})
    return found


def _meta(extra: Optional[dict], cfg) -> dict:
    import framework
    from framework.plugins import state

    plugins = [{"name": p.name, "distribution": p.distribution, "version": p.version, "status": p.status}
               for p in state().plugins]
    meta = {"nlpf_version": framework.__version__, "torch_version": torch.__version__, "plugins": plugins,
            "components": _components(cfg), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    meta.update(extra or {})
    return meta


def check_components(directory: Path, cfg) -> None:
    """Every component the checkpoint was built from must be registered now; name the plugin to install."""
    from framework.plugins import registries, state

    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError):
        meta = {}
    recorded = {(c.get("registry"), c.get("name")): c for c in meta.get("components", []) if isinstance(c, dict)}
    loaded = {p.distribution for p in state().plugins if p.status == "ok"}
    for group, kind in COMPONENT_GROUPS.items():
        if group not in NEEDED_TO_LOAD:  # the data source and objective of training are not needed to use it
            continue
        node = cfg.get(group)
        name = node.get("name") if hasattr(node, "get") else None
        if not name or name in registries()[kind]:
            continue
        origin = recorded.get((kind, name))
        if origin is not None:
            dist, version = origin.get("distribution"), origin.get("version")
            problem = next((f"{p.distribution} is installed but did not load: {p.error}" for p in state().plugins
                            if p.distribution == dist and p.status != "ok"), None)
            raise NlpfError(f"the checkpoint '{directory}' needs {kind} '{name}' from {dist} {version}, which is "
                            + ("not loaded" if problem else "not installed"),
                            hint=problem or f"pip install '{dist}=={version}' (or a compatible release), then run again")
        missing = sorted({p.get("distribution") for p in meta.get("plugins", []) if isinstance(p, dict)
                          and p.get("status") == "ok" and p.get("distribution") not in loaded})
        if missing:  # checkpoints from before components were recorded: name the plugins it was made with
            raise NlpfError(f"the checkpoint '{directory}' needs {kind} '{name}', which no loaded plugin registers",
                            hint="it was made with plugins that are not loaded now: " + ", ".join(missing)
                            + "; install them (`nlpf plugins` shows what is loaded)")


def _unique_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with each shared (tied) tensor kept once, under its first name."""
    seen: dict[tuple, str] = {}
    out = {}
    for name, tensor in state.items():
        key = (tensor.device, tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:
            continue
        seen[key] = name
        out[name] = tensor.detach().contiguous().cpu()
    return out


def _write_tokenizer(tokenizer: Any, target: Path) -> None:
    if isinstance(tokenizer, (str, os.PathLike)):
        source = Path(tokenizer)
        if not source.is_dir():
            raise NlpfError(f"tokenizer directory '{source}' does not exist")
        shutil.copytree(source, target)
    else:
        from framework.tokenizers import save_tokenizer

        save_tokenizer(tokenizer, target)


def save_checkpoint(directory, model: torch.nn.Module, cfg: Any, tokenizer_dir_or_obj: Any = None,
                    meta: Optional[dict] = None, state: Optional[dict[str, torch.Tensor]] = None,
                    adapters: Optional[dict[str, torch.Tensor]] = None) -> Path:
    """Write `model` (a TaskModel), its run config and tokenizer into `directory`, replacing it atomically
    (an existing directory is replaced only if it is empty or an earlier checkpoint). `state`, when given, is
    written instead of the model's own state dict (a LoRA run writes its merged weights); `adapters`, when
    given, go to adapters.safetensors (a LoRA run's low-rank factors)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    check_replaceable(directory, CHECKPOINT_FILES, "an nlpf checkpoint")
    with atomic_directory(directory) as tmp:
        save_file(_unique_state(model.state_dict() if state is None else state), str(tmp / WEIGHTS), metadata={"format": "pt"})
        if adapters:
            save_file({k: v.detach().contiguous() for k, v in adapters.items()}, str(tmp / ADAPTERS),
                      metadata={"format": "pt"})
        node = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
        (tmp / CONFIG).write_text(OmegaConf.to_yaml(node, resolve=True))
        if tokenizer_dir_or_obj is not None:
            _write_tokenizer(tokenizer_dir_or_obj, tmp / TOKENIZER_DIR)
        (tmp / META).write_text(json.dumps(_meta(meta, node), indent=2) + "\n")
    return directory


def resolve(directory) -> Path:
    """The checkpoint a path names: the directory itself, or a run directory's best checkpoint, else its last."""
    directory = Path(directory)
    for candidate in (directory, directory / "checkpoints" / "best", directory / "checkpoints" / "last"):
        if (candidate / WEIGHTS).is_file():
            return candidate
    return directory


def not_a_directory(path, key: str = "checkpoint directory") -> NlpfError:
    """The error for a checkpoint path that is no directory: missing, a Lightning .ckpt file, or another file.
    `key` is the argument that named it (ckpt, init_from) or what it should have been."""
    path = Path(path)
    subject = f"{key}={path}" if key.isidentifier() else f"{key} '{path}'"
    hint = (f"pass {key}=PATH: " if key.isidentifier() else "pass ") + (
        "a directory written by `nlpf train` (a run directory or RUN_DIR/checkpoints/best) or `nlpf import hf`")
    if not path.exists():
        last = path.parent / "last"
        if path.name == "best" and (last / WEIGHTS).is_file():  # a run that ended before its first validation
            hint = (f"the run saved no best checkpoint (it validated never or only after its last save); pass "
                    f"{last} or the run directory {path.parent.parent}, which takes best, else last")
        return NlpfError(f"{subject} does not exist", hint=hint)
    if path.suffix == ".ckpt":
        run = path.parent.parent.parent if path.parent.name == "lightning" else None
        return NlpfError(f"{subject} is Lightning's training state (for resume=), not an nlpf checkpoint",
                         hint=f"pass its run directory{f' ({run})' if run else ''} or RUN_DIR/checkpoints/best")
    return NlpfError(f"{subject} is a file, not a checkpoint directory", hint=hint)


def read_config(directory) -> DictConfig:
    directory = Path(directory)
    if not directory.is_dir():
        raise not_a_directory(directory, "checkpoint directory")
    missing = [n for n in (CONFIG, WEIGHTS) if not (directory / n).is_file()]
    if missing:
        raise NlpfError(
            f"'{directory}' is not an nlpf checkpoint: {' and '.join(missing)} missing",
            hint="pass a directory written by `nlpf train` or `nlpf import hf`"
            + ("; for a Hugging Face directory run `nlpf import hf SRC OUT` first"
               if (directory / "config.json").is_file() else ""),
        )
    cfg = OmegaConf.load(directory / CONFIG)
    check_components(directory, cfg)
    if cfg.get("model") is not None:  # checkpoints written before the dropouts got nlpf names
        from framework.config import upgrade_hf_names

        upgrade_hf_names("model", cfg.model)
    return cfg


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise NlpfError(f"cannot read weights '{path}': {err}",
                        hint="the file is truncated or corrupt; save or import the checkpoint again") from None


def load_state(model: torch.nn.Module, weights: dict[str, torch.Tensor], where: str) -> None:
    """Load `weights` into `model`, tolerating only the tied aliases that were saved once; anything else is an error."""
    expected = model.state_dict()
    shape_errors = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
                    for k, v in weights.items() if k in expected and expected[k].shape != v.shape]
    unexpected = sorted(set(weights) - set(expected))
    # a key may be absent when it shares storage with a present one (tied embeddings)
    by_storage: dict[tuple, list[str]] = {}
    for k, t in expected.items():
        by_storage.setdefault((t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape)), []).append(k)
    missing = [k for k in expected if k not in weights
               and not any(a in weights for a in by_storage[(expected[k].untyped_storage().data_ptr(),
                                                             expected[k].storage_offset(), tuple(expected[k].shape))])]
    if shape_errors or unexpected or missing:
        parts = []
        if shape_errors:
            parts.append("shape mismatch: " + "; ".join(shape_errors[:5]))
        if missing:
            parts.append("missing: " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else ""))
        raise NlpfError(f"the weights in '{where}' do not match the model its config describes ({'; '.join(parts)})",
                        hint="the config.yaml and model.safetensors come from different models; re-save the checkpoint")
    model.load_state_dict(weights, strict=False)


def load_checkpoint(directory, map_location: str | torch.device = "cpu"):
    """Rebuild (TaskModel, cfg) from a checkpoint directory."""
    from framework.config import validate_component
    from framework.inference.device import usable_device
    from framework.model import build_model

    map_location = usable_device(map_location)  # before the (slow) build, with a clear message
    directory = Path(directory)
    cfg = read_config(directory)
    for group in ("model", "head"):
        if cfg.get(group) is not None:
            cfg[group] = validate_component(group, cfg[group])
    if cfg.model.get("vocab_size", 0) is None:
        raise NlpfError(f"'{directory / CONFIG}' has model.vocab_size: null",
                        hint="a checkpoint must record its vocabulary size")
    model = build_model(cfg, init=False)  # the weights are loaded next
    load_state(model, read_weights(directory / WEIGHTS), str(directory / WEIGHTS))
    model.to(map_location)
    return model, cfg


def check_vocabulary(cfg, tokenizer, directory) -> None:
    """The tokenizer must not produce ids past the model's embedding table (a tokenizer/ from another model)."""
    size = cfg.model.get("vocab_size") if cfg.get("model") is not None else None
    tok_size = getattr(tokenizer, "vocab_size", None)
    if isinstance(size, int) and isinstance(tok_size, int) and tok_size > size:
        raise NlpfError(f"the tokenizer in '{Path(directory) / TOKENIZER_DIR}' has {tok_size} tokens but the model in "
                        f"'{directory}' only {size} (model.vocab_size)",
                        hint="the tokenizer/ directory belongs to another model; save the checkpoint again with its "
                        "own tokenizer")
