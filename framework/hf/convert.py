"""`import_hf` and `export_hf`: Hugging Face checkpoint directories <-> nlpf checkpoint directories."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from omegaconf import DictConfig, OmegaConf

from framework.atomic import atomic_directory
from framework.errors import NlpfError, did_you_mean
from framework.hf import bert, gpt2, t5
from framework.hf.mapping import Param, to_hf, to_ours
from framework.hf.tokenizer import FILES as TOKENIZER_FILES
from framework.hf.tokenizer import copy_back, tokenizer_node

FAMILIES: dict[str, ModuleType] = {m.MODEL_TYPE: m for m in (bert, gpt2, t5)}
BY_ARCH_NAME = {"bert": bert, "gpt": gpt2, "t5": t5}  # our architecture name -> family


def _read_json_file(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_hf_config(src: Path) -> dict:
    path = src / "config.json"
    if not src.is_dir():
        raise NlpfError(f"'{src}' does not exist" if not src.exists() else f"'{src}' is a file, not a directory",
                        hint="pass the directory written by `save_pretrained` (config.json + model.safetensors)")
    if not path.is_file():
        already = (src / "config.yaml").is_file() and (src / "model.safetensors").is_file()
        raise NlpfError(f"'{src}' is not a Hugging Face checkpoint directory: no config.json",
                        hint="it is already an nlpf checkpoint: use it directly (framework.load, init_from=)" if already
                        else "pass the directory written by `save_pretrained` (config.json + model.safetensors)")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise NlpfError(f"cannot parse '{path}': {err}",
                        hint="config.json must be the JSON written by `save_pretrained`") from None


def _fix_legacy_names(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Very old BERT checkpoints call LayerNorm parameters gamma/beta."""
    out = {}
    for k, v in weights.items():
        if "LayerNorm." in k:
            k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        out[k] = v
    return out


def read_hf_weights(src: Path) -> dict[str, torch.Tensor]:
    """model.safetensors (or its sharded index), else pytorch_model.bin loaded with weights_only=True."""
    from framework.checkpoint import read_weights

    if (src / "model.safetensors").is_file():
        return _fix_legacy_names(read_weights(src / "model.safetensors"))
    index = src / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        weights = {}
        for shard in shards:
            weights.update(read_weights(src / shard))
        return _fix_legacy_names(weights)
    if (src / "pytorch_model.bin").is_file():
        try:
            state = torch.load(src / "pytorch_model.bin", map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - pickle errors come in many types
            raise NlpfError(f"cannot read '{src / 'pytorch_model.bin'}' safely: {str(err).splitlines()[0]}",
                            hint="only plain tensor state dicts load with weights_only=True; re-save the model "
                            "with save_pretrained(safe_serialization=True)") from None
        return _fix_legacy_names({k: v for k, v in state.items() if isinstance(v, torch.Tensor)})
    raise NlpfError(f"'{src}' has no weights: expected model.safetensors or pytorch_model.bin")


def _family(model_type) -> ModuleType:
    if model_type not in FAMILIES:
        raise NlpfError(f"config.json model_type {model_type!r} is not supported."
                        + did_you_mean(str(model_type), FAMILIES),
                        hint=f"nlpf imports: {', '.join(FAMILIES)}")
    return FAMILIES[model_type]


def _architecture(fam: ModuleType, c: dict, weights: dict) -> str:
    archs = c.get("architectures") or []
    if archs:
        arch = archs[0]
        if arch not in fam.HEADS:
            raise NlpfError(f"config.json architecture '{arch}' is not supported." + did_you_mean(arch, fam.HEADS),
                            hint=f"nlpf imports {', '.join(fam.HEADS)}")
        return arch
    # no `architectures`: guess from the weights
    if fam is bert:
        for arch, marker in (("BertForMaskedLM", "cls.predictions.bias"), ("BertForQuestionAnswering", "qa_outputs.weight"),
                             ("BertForSequenceClassification", "classifier.weight")):
            if marker in weights:
                if arch == "BertForSequenceClassification" and "bert.pooler.dense.weight" not in weights:
                    return "BertForTokenClassification"
                return arch
        return "BertModel"
    if fam is gpt2:
        return "GPT2LMHeadModel" if "transformer.wte.weight" in weights else "GPT2Model"
    return "T5ForConditionalGeneration"


def _prefix(fam: ModuleType, arch: str, weights: dict) -> str:
    prefix = fam.prefix_of(arch)
    probe = {bert: "embeddings.word_embeddings.weight", gpt2: "wte.weight", t5: "shared.weight"}[fam]
    if prefix and prefix + probe not in weights and probe in weights:
        return ""  # e.g. a BertFor* saved from the inner model
    if not prefix:
        for p in ("bert.", "transformer."):
            if p + probe in weights and probe not in weights:
                return p
    return prefix


def import_hf(src, out) -> Path:
    """Convert a Hugging Face checkpoint directory into an nlpf checkpoint directory `out`."""
    from framework.checkpoint import load_state, save_checkpoint
    from framework.config import validate_component
    from framework.model import build_model

    from framework.checkpoint import CHECKPOINT_FILES, check_replaceable

    src, out = Path(src), Path(out)
    check_replaceable(out, CHECKPOINT_FILES, "an nlpf checkpoint")
    c = _read_hf_config(src)
    fam = _family(c.get("model_type"))
    weights = read_hf_weights(src)
    arch = _architecture(fam, c, weights)
    prefix = _prefix(fam, arch, weights)
    model_node = fam.model_node(c)
    head_node = fam.head_node(arch, c, weights, prefix)
    state = to_ours(fam.params(model_node, head_node, prefix), weights, fam.ignored(head_node, prefix), str(src))

    cfg = {"model": OmegaConf.to_container(validate_component("model", OmegaConf.create(model_node)))}
    if head_node is not None:
        cfg["head"] = OmegaConf.to_container(validate_component("head", OmegaConf.create(head_node)))
    id2label = c.get("id2label")
    sequence = head_node is not None and head_node["name"] == "sequence_classification"
    regression = sequence and (
        c.get("problem_type") == "regression" or (c.get("problem_type") is None and len(id2label or {}) == 1))
    if regression:  # as transformers reads it: one output is a number, not a class
        cfg["objective"] = {"name": "sequence_regression"}
    elif head_node is not None and head_node["name"] in ("sequence_classification", "token_classification") and id2label:
        cfg["labels"] = [id2label[k] for k in sorted(id2label, key=int)]
    if sequence and c.get("problem_type") == "multi_label_classification":  # a sigmoid per label
        cfg["objective"] = OmegaConf.to_container(validate_component(
            "objective", OmegaConf.create({"name": "multi_label_classification"})))
    cfg["max_length"] = int(c.get("max_position_embeddings") or c.get("n_positions") or 512)
    sbert = _read_json_file(src / "sentence_bert_config.json")  # a sentence-transformers model truncates earlier
    if isinstance(sbert.get("max_seq_length"), int) and 0 < sbert["max_seq_length"] < cfg["max_length"]:
        cfg["max_length"] = sbert["max_seq_length"]

    with tempfile.TemporaryDirectory() as tmp:
        tok = tokenizer_node(src, Path(tmp) / "tokenizer")
        if tok is not None:
            cfg["tokenizer"] = tok
        model = build_model(OmegaConf.create(cfg), init=False)  # the weights are loaded next
        load_state(model, state, str(src))
        meta = {"source": {"format": "huggingface", "path": str(src.resolve()), "architecture": arch, "config": c}}
        save_checkpoint(out, model, OmegaConf.create(cfg), Path(tmp) / "tokenizer" if tok is not None else None,
                        meta=meta)
    return out


def _special_token_ids(base: dict, tok_dir: Path) -> None:
    """bos/eos/pad ids the config lacks, from the checkpoint's tokenizer: without them `transformers` falls back
    to its family's defaults (GPT-2's 50256, T5's 1), which a model trained in nlpf does not use."""
    if not (tok_dir / "tokenizer.yaml").is_file():
        return
    from framework.tokenizers import load_tokenizer

    tok = load_tokenizer(tok_dir)
    for key, value in (("bos_token_id", tok.bos_id), ("eos_token_id", tok.eos_id), ("pad_token_id", tok.pad_id)):
        if base.get(key) is None and value is not None:
            base[key] = int(value)


@dataclass
class Exportable:
    """A checkpoint with its Hugging Face counterpart: family module, architecture and weight names."""
    ckpt: Path
    cfg: DictConfig
    family: ModuleType
    arch: str
    fields: dict  # config.json fields for the architecture
    params: list[Param]  # our tensor <-> HF tensors
    state: dict[str, torch.Tensor]  # our weights, on the CPU

    def hf_weights(self) -> dict[str, torch.Tensor]:
        return to_hf(self.params, self.state)


def exportable(ckpt) -> Exportable:
    """Load `ckpt` (a checkpoint or run directory, or hf-packaged:NAME) and check that `transformers` can
    compute what it computes."""
    from framework.checkpoint import load_checkpoint, resolve
    from framework.training.pretrained import resolve_packaged

    ckpt = resolve(resolve_packaged(ckpt))  # a run directory or a packaged name too, as inference takes them
    model, cfg = load_checkpoint(ckpt)
    m = OmegaConf.to_container(cfg.model)
    head = OmegaConf.to_container(cfg.head) if cfg.get("head") is not None else None
    fam = BY_ARCH_NAME.get(m["name"])
    if fam is None:
        raise NlpfError(f"architecture '{m['name']}' has no Hugging Face counterpart",
                        hint=f"nlpf exports {', '.join(BY_ARCH_NAME)} models")
    reason = fam.check_exportable(m, head)
    if reason:
        raise NlpfError(f"cannot export '{ckpt}' to Hugging Face: {reason}",
                        hint="an export must compute what `transformers` computes; fine-tune with the head settings "
                        "named above to get an exportable model (docs/models.md, 'Export')")
    arch, fields = fam.hf_config(m, head)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return Exportable(Path(ckpt), cfg, fam, arch, fields, fam.params(m, head, fam.prefix_of(arch)), state)


def export_hf(ckpt, out) -> Path:
    """Write an nlpf checkpoint as a Hugging Face directory (config.json, model.safetensors, tokenizer files)."""
    from safetensors.torch import save_file

    from framework.checkpoint import META, TOKENIZER_DIR, check_replaceable

    out = Path(out)
    check_replaceable(out, {"config.json", "model.safetensors", *TOKENIZER_FILES}, "a Hugging Face export")
    ex = exportable(ckpt)
    ckpt, cfg, fam, arch, fields = ex.ckpt, ex.cfg, ex.family, ex.arch, ex.fields
    head = OmegaConf.to_container(cfg.head) if cfg.get("head") is not None else None
    weights = ex.hf_weights()
    if head is not None and head["name"] == "lm" and fam is bert:
        weights["cls.predictions.decoder.bias"] = weights["cls.predictions.bias"].clone()

    # keep the source's non-math fields (token ids, label names...) when the checkpoint was imported
    meta = json.loads((ckpt / META).read_text()) if (ckpt / META).is_file() else {}
    base = dict(meta.get("source", {}).get("config", {})) if meta.get("source", {}).get("architecture") == arch else {}
    base.update(fields)
    base["model_type"], base["architectures"] = fam.MODEL_TYPE, [arch]
    _special_token_ids(base, ckpt / TOKENIZER_DIR)
    labels = cfg.get("labels")
    objective = (cfg.get("objective") or {}).get("name")
    if objective == "sequence_regression":  # one output read as a number
        base["problem_type"] = "regression"
        base["num_labels"] = 1
    elif labels and head is not None and head["name"] in ("sequence_classification", "token_classification"):
        base["id2label"] = {str(i): str(x) for i, x in enumerate(labels)}
        base["label2id"] = {str(x): i for i, x in enumerate(labels)}
    elif head is not None and head.get("num_labels"):
        base["id2label"] = {str(i): f"LABEL_{i}" for i in range(head["num_labels"])}
        base["label2id"] = {f"LABEL_{i}": i for i in range(head["num_labels"])}
    if objective == "multi_label_classification":  # transformers then scores a sigmoid (BCE) per label
        base["problem_type"] = "multi_label_classification"
    elif objective != "sequence_regression" and base.get("problem_type") in ("multi_label_classification", "regression"):
        del base["problem_type"]  # an imported model since fine-tuned for one label per text

    with atomic_directory(out) as tmp:  # only an earlier export is replaced (checked above)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(base, indent=2, sort_keys=True) + "\n")
        copy_back(ckpt / TOKENIZER_DIR, tmp)
    tok_name = (cfg.get("tokenizer") or {}).get("name")
    if tok_name not in (None, "hf", "sentencepiece"):
        print(f"warning: the checkpoint's tokenizer ('{tok_name}') has no transformers counterpart, so the export "
              "holds no tokenizer files: feed it token ids, or train with a hf or sentencepiece tokenizer",
              file=sys.stderr)
    return out
