"""`export_peft`: a LoRA run's adapters as a PEFT adapter directory (adapter_config.json,
adapter_model.safetensors) for the Hugging Face model the run started from.

nlpf fuses projections that `transformers` keeps apart (BERT's and T5's q, k, v; T5's cross-attention k, v).
An adapter on a fused layer, B A with A [r, in] and B [n * out, r], is n adapters on the separate layers
with the same A and the rows of B split in n: the same update, exactly. The parameters trained whole (the
head, lora.trainable) go in as PEFT's `modules_to_save`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from framework.errors import NlpfError
from framework.hf.convert import exportable
from framework.hf.tokenizer import FILES as TOKENIZER_FILES
from framework.hf.tokenizer import copy_back

CONFIG_FILE, WEIGHTS_FILE = "adapter_config.json", "adapter_model.safetensors"
PREFIX = "base_model.model."  # PEFT's names: the wrapped model's own names under this prefix


def _task_type(family: str, head: str | None) -> str | None:
    if head == "lm":
        return {"gpt": "CAUSAL_LM", "t5": "SEQ_2_SEQ_LM"}.get(family)  # no PEFT task for masked LM
    return {None: "FEATURE_EXTRACTION", "sequence_classification": "SEQ_CLS", "token_classification": "TOKEN_CLS",
            "qa": "QUESTION_ANS"}.get(head)


def _module(hf_param: str) -> str:
    return hf_param.rsplit(".", 1)[0]


def _base_model(cfg) -> str | None:
    """The Hugging Face directory the run's init_from was imported from, when this machine has it."""
    from framework.checkpoint import META, resolve
    from framework.training.pretrained import PACKAGED, PACKAGED_PREFIX, packaged_target

    init = cfg.get("init_from")
    if not init:
        return None
    init = str(init)
    if init.startswith(PACKAGED_PREFIX):
        name = init[len(PACKAGED_PREFIX):]
        directory = packaged_target(name) if name in PACKAGED else None
    else:
        directory = resolve(init)
    try:
        source = json.loads((directory / META).read_text()).get("source", {})
    except (OSError, ValueError, TypeError):
        return None
    path = source.get("path") if source.get("format") == "huggingface" else None
    return path if path and Path(path).is_dir() else None


def export_peft(ckpt, out, base: str | None = None) -> Path:
    """Write the adapters of a LoRA checkpoint `ckpt` as a PEFT adapter directory `out`. `base` is recorded as
    base_model_name_or_path (default: the Hugging Face directory init_from was imported from)."""
    from safetensors.torch import save_file

    from framework.atomic import atomic_directory, check_replaceable
    from framework.checkpoint import ADAPTERS, META, TOKENIZER_DIR, read_weights

    out = Path(out)
    check_replaceable(out, {CONFIG_FILE, WEIGHTS_FILE, *TOKENIZER_FILES}, "a PEFT adapter export")
    ex = exportable(ckpt)
    meta = json.loads((ex.ckpt / META).read_text()) if (ex.ckpt / META).is_file() else {}
    lora = meta.get("lora")
    if not (ex.ckpt / ADAPTERS).is_file() or not isinstance(lora, dict):
        raise NlpfError(f"'{ex.ckpt}' holds no LoRA adapters (it was not trained with lora.r > 0, or before nlpf "
                        "kept them)", hint=f"export the whole model with `nlpf export hf {ckpt} OUT_DIR`")
    by_ours = {p.ours: p for p in ex.params}
    adapters = read_weights(ex.ckpt / ADAPTERS)
    weights, targets = {}, []
    for layer in sorted({k.rsplit(".", 1)[0] for k in adapters}):
        param = by_ours.get(f"{layer}.weight")
        if param is None:
            raise NlpfError(f"the adapted layer '{layer}' has no Hugging Face counterpart",
                            hint="export the merged model with `nlpf export hf` instead")
        a, b = adapters[f"{layer}.lora_a"], adapters[f"{layer}.lora_b"]
        for hf_name, rows in zip(param.hf, b.chunk(len(param.hf), dim=0)):
            module = _module(hf_name)
            weights[f"{PREFIX}{module}.lora_A.weight"] = a.contiguous().clone()
            weights[f"{PREFIX}{module}.lora_B.weight"] = rows.contiguous().clone()
            targets.append(module)

    whole = set()  # HF modules trained whole: PEFT saves all of their parameters
    for name in lora.get("trained", []):
        if name not in by_ours:
            raise NlpfError(f"the trained parameter '{name}' has no Hugging Face counterpart",
                            hint="export the merged model with `nlpf export hf` instead")
        whole.update(_module(h) for h in by_ours[name].hf)
    both = sorted(whole & set(targets))
    if both:
        raise NlpfError(f"PEFT cannot both adapt and fully train {', '.join(both)}",
                        hint="leave these layers out of lora.trainable, or export the merged model with "
                        "`nlpf export hf`")
    for key, tensor in ex.hf_weights().items():
        if _module(key) in whole:
            weights[PREFIX + key] = tensor

    head = ex.cfg.head.name if ex.cfg.get("head") is not None else None
    base = base if base is not None else _base_model(ex.cfg)
    config = {
        "peft_type": "LORA", "task_type": _task_type(ex.cfg.model.name, head),
        "base_model_name_or_path": base, "r": int(lora["r"]), "lora_alpha": float(lora["alpha"]),
        "lora_dropout": 0.0, "bias": "none", "target_modules": sorted(targets),
        "modules_to_save": sorted(whole) or None, "fan_in_fan_out": ex.family.MODEL_TYPE == "gpt2",
        "use_rslora": False, "use_dora": False, "init_lora_weights": True, "inference_mode": True,
    }
    with atomic_directory(out) as tmp:  # only an earlier export is replaced (checked above)
        save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        copy_back(ex.ckpt / TOKENIZER_DIR, tmp)
    if base is None:
        print("note: base_model_name_or_path is empty: the run did not start from an imported Hugging Face model "
              f"on this machine. The adapters apply to its init_from ({ex.cfg.get('init_from')}) as exported by "
              "`nlpf export hf`; pass base=PATH_OR_NAME to record it", file=sys.stderr)
    return out
