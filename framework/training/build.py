"""Composing a run from its config: tokenizer, data sets, objective, labels and the TaskModel, optionally
starting from the weights of an earlier checkpoint (`init_from`)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.errors import ConfigError, NlpfError


@dataclass
class Run:
    cfg: DictConfig  # the resolved config, completed with labels and model.vocab_size (what checkpoints record)
    tokenizer: Any
    objective: Any
    datasets: dict
    model: Any
    labels: list[str]
    source: Any = None


def build_objective(cfg, tokenizer):
    from framework.model import call_builder
    from framework.plugins import registries

    return call_builder(registries().objective.get(cfg.objective.name), cfg.objective, tokenizer)


def check_label_count(cfg, labels: list[str]) -> None:
    """head.num_labels, when set, must be the number of labels: a bigger head trains outputs no label uses, a
    smaller one fails inside the loss."""
    head = cfg.get("head")
    wanted = head.get("num_labels") if head is not None else None
    if wanted is not None and int(wanted) != len(labels):
        raise ConfigError(f"head.num_labels={wanted}, but the data has {len(labels)} labels ({', '.join(labels[:10])}"
                          f"{' ...' if len(labels) > 10 else ''})",
                          hint="leave head.num_labels null: it is read from the labels")


def checkpoint_dir(path: str | Path, key: str = "init_from") -> Path:
    """A checkpoint directory from a checkpoint, a run directory (its best, else last) or a packaged name."""
    from framework.checkpoint import WEIGHTS, resolve
    from framework.training.pretrained import resolve_packaged

    p = Path(resolve_packaged(path))
    found = resolve(p)
    if (found / WEIGHTS).is_file():
        return found
    if not p.is_dir():
        from framework.checkpoint import not_a_directory

        raise not_a_directory(p, key)
    raise NlpfError(f"{key}='{path}' holds no nlpf checkpoint"
                    + (" (it is a Hugging Face model: run `nlpf import hf SRC OUT` first)"
                       if (p / "config.json").is_file() else ""),
                    hint="pass a checkpoint directory (model.safetensors, config.yaml), a run directory, "
                    "or hf-packaged:minilm")


def build_tokenizer_for(cfg, source, init_dir: Path | None):
    """The checkpoint's tokenizer when starting from one; else the configured one (trained on the
    training split on first use, then cached)."""
    from framework.data.pipeline import corpus_texts
    from framework.tokenizers import build_tokenizer, load_tokenizer

    if init_dir is not None and (init_dir / "tokenizer").is_dir():
        return load_tokenizer(init_dir / "tokenizer")
    return build_tokenizer(cfg.tokenizer, corpus=corpus_texts(source))  # read only if it must be trained


# model fields that are training settings, not architecture: the run's values win over the checkpoint's
RUN_MODEL_KEYS = ("dropout", "attention_dropout")


def adopt_checkpoint_config(cfg: DictConfig, init_dir: Path, overrides=()) -> DictConfig:
    """Fine-tuning from a checkpoint uses its architecture and tokenizer (except RUN_MODEL_KEYS, so
    `model.dropout=0.2` applies); an override in `overrides` that asks for another architecture is an error."""
    from framework.checkpoint import read_config

    ckpt_cfg = read_config(init_dir)
    _check_architecture_overrides(overrides, cfg, ckpt_cfg.model, init_dir)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    model = OmegaConf.create(OmegaConf.to_container(ckpt_cfg.model, resolve=True))
    for key in RUN_MODEL_KEYS:
        if key in model and cfg.get("model") is not None and cfg.model.get(key) is not None:
            model[key] = cfg.model[key]
    cfg.model = model
    tok_dir = init_dir / "tokenizer"
    if (tok_dir / "tokenizer.yaml").is_file():
        node = OmegaConf.load(tok_dir / "tokenizer.yaml")
        _check_tokenizer_overrides(overrides, cfg.get("tokenizer"), node, init_dir)
        for key in ("model_file", "path"):  # recorded absolute: the run config must not depend on the cwd
            if isinstance(node.get(key), str) and not Path(node[key]).is_absolute():
                node[key] = str((tok_dir / node[key]).resolve())
        cfg.tokenizer = node
    return cfg, ckpt_cfg


def _check_architecture_overrides(overrides, cfg, ckpt_model, init_dir: Path) -> None:
    """`model=...` or `model.FIELD=...` on the command line that the checkpoint's architecture would silently
    replace: refuse them, naming what the checkpoint has."""
    import yaml

    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key == "model" and cfg.get("model") is not None:  # a preset: its architecture fields must match
            if cfg.model.get("name") != ckpt_model.get("name"):
                asked, has = f"model={value} ({cfg.model.get('name')})", f"a '{ckpt_model.get('name')}' model"
            else:
                typed = {o.lstrip("+").partition("=")[0][len("model."):] for o in overrides
                         if o.lstrip("+").startswith("model.")}  # those get their own message below
                differ = [f for f, v in cfg.model.items() if f not in RUN_MODEL_KEYS and f not in typed
                          and v is not None and f in ckpt_model and ckpt_model[f] != v]
                if not differ:
                    continue
                asked = f"model={value} ({differ[0]}={cfg.model[differ[0]]})"
                has = f"{differ[0]}={ckpt_model[differ[0]]}"
        elif key.startswith("model.") and key[len("model."):] not in RUN_MODEL_KEYS and key != "model.name":
            field = key[len("model."):]
            try:
                wanted = yaml.safe_load(value)
            except yaml.YAMLError:
                wanted = value
            if field not in ckpt_model or ckpt_model.get(field) == wanted:
                continue
            asked, has = override.lstrip("+"), f"{field}={ckpt_model.get(field)}"
        else:
            continue
        raise ConfigError(f"{asked} conflicts with init_from: fine-tuning keeps the checkpoint's architecture, "
                          f"and '{init_dir}' holds {has}",
                          hint="drop the override (only model.dropout and model.attention_dropout apply with "
                          "init_from), or train from scratch without init_from")


def _check_tokenizer_overrides(overrides, chosen, saved, init_dir: Path) -> None:
    """`tokenizer=...` or `tokenizer.FIELD=...` that the checkpoint's own tokenizer would silently replace
    (`chosen`: the tokenizer node the overrides composed)."""
    import yaml

    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key == "tokenizer":  # a preset of the same kind is taken as the saved one (its files come from there)
            asked, same = override.lstrip("+"), chosen is not None and chosen.get("name") == saved.get("name")
        elif key.startswith("tokenizer."):
            try:
                wanted = yaml.safe_load(value)
            except yaml.YAMLError:
                wanted = value
            asked, same = override.lstrip("+"), saved.get(key[len("tokenizer."):]) == wanted
        else:
            continue
        if not same:
            raise ConfigError(f"{asked} conflicts with init_from: fine-tuning keeps the tokenizer saved in "
                              f"'{init_dir}' (a '{saved.get('name')}' tokenizer; its ids index the model's embeddings)",
                              hint="drop the tokenizer override, or train from scratch without init_from")


def load_init_weights(model, init_dir: Path, ckpt_cfg, cfg) -> str:
    """Copy the backbone (always) and the head (when it has the same config, labels and shapes)."""
    from framework.checkpoint import read_weights

    weights = read_weights(init_dir / "model.safetensors")
    own = model.state_dict()
    same_head = (ckpt_cfg.get("head") is not None and cfg.get("head") is not None
                 and OmegaConf.to_container(ckpt_cfg.head) == OmegaConf.to_container(cfg.head)
                 and list(ckpt_cfg.get("labels") or []) == list(cfg.get("labels") or []))
    take = {k: v for k, v in weights.items()
            if k in own and own[k].shape == v.shape and (k.startswith("backbone.") or same_head)}
    backbone_keys = [k for k in own if k.startswith("backbone.")]
    missing = [k for k in backbone_keys if k not in take and not _tied(model, k, take)]
    if missing:
        raise NlpfError(
            f"init_from '{init_dir}': the checkpoint lacks {len(missing)} backbone weights of this model "
            f"(e.g. {missing[0]})",
            hint="fine-tune with the checkpoint's own model config (drop model=... overrides)")
    model.load_state_dict(take, strict=False)
    return "backbone and head" if same_head else "backbone (new head)"


def _tied(model, key, taken) -> bool:
    tensor = model.state_dict()[key]
    ptr = tensor.untyped_storage().data_ptr()
    return any(model.state_dict()[k].untyped_storage().data_ptr() == ptr for k in taken)


def build_run(cfg: DictConfig, verbose: bool = True) -> Run:
    """Everything `nlpf train` needs, from the validated config."""
    from framework.data.pipeline import build_datasets, build_source
    from framework.model import build_model

    init_dir = checkpoint_dir(cfg.init_from) if cfg.get("init_from") else None
    ckpt_cfg = None
    if init_dir is not None:
        cfg, ckpt_cfg = adopt_checkpoint_config(cfg, init_dir)
    source = build_source(cfg.data)
    tokenizer = build_tokenizer_for(cfg, source, init_dir)
    objective = build_objective(cfg, tokenizer)
    datasets = build_datasets(cfg.data, tokenizer, objective.task, int(cfg.max_length), seed=int(cfg.seed),
                              source=source, labels=list(cfg.labels) if cfg.get("labels") else None)
    labels = list(cfg.get("labels") or getattr(datasets.get("train"), "label_names", None) or [])
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    cfg.labels = labels or None
    if "vocab_size" in cfg.model and cfg.model.vocab_size is None:
        cfg.model.vocab_size = int(tokenizer.vocab_size)
    if objective.task == "regression" and cfg.get("head") is not None and cfg.head.get("num_labels", 0) is None:
        cfg.head.num_labels = 1  # one output; recorded so that the checkpoint rebuilds it
    if labels:
        check_label_count(cfg, labels)
        objective.check_labels(labels)  # class_weights, pos_weight: one weight per label
    model = build_model(cfg, vocab_size=tokenizer.vocab_size, num_labels=len(labels) or None)  # initialised
    if init_dir is not None:
        what = load_init_weights(model, init_dir, ckpt_cfg, cfg)
        if verbose:
            print(f"init_from: loaded the {what} from {init_dir}", file=sys.stderr)
    return Run(cfg, tokenizer, objective, datasets, model, labels, source)
