"""Tokenizer files beside a Hugging Face checkpoint -> an nlpf tokenizer directory (files + tokenizer.yaml)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

from omegaconf import OmegaConf

FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "special_tokens_map.json",
         "tokenizer_config.json", "added_tokens.json")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _byte_level_bpe_json(src: Path, out: Path) -> None:
    """GPT-2 ships vocab.json + merges.txt; turn them into one tokenizer.json."""
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer(str(src / "vocab.json"), str(src / "merges.txt"))
    vocab = _read_json(src / "vocab.json")
    special = [t for t in ("<|endoftext|>",) if t in vocab]  # one token, as GPT2Tokenizer reads it, not 6 pieces
    if special:
        tok.add_special_tokens(special)
    tok.save(str(out / "tokenizer.json"))


def tokenizer_node(src: Path, out: Path) -> Optional[dict]:
    """Copy the tokenizer files of `src` into `out`; return the tokenizer node (paths relative to `out`),
    or None when `src` has no tokenizer."""
    present = [f for f in FILES if (src / f).is_file()]
    if not present:
        return None
    out.mkdir(parents=True, exist_ok=True)
    for f in present:
        shutil.copy2(src / f, out / f)
    tok_cfg = _read_json(src / "tokenizer_config.json")
    if (src / "tokenizer.json").is_file():
        node = {"name": "hf", "path": "tokenizer.json", "template": "native"}
    elif (src / "vocab.txt").is_file():
        node = {"name": "hf", "path": "vocab.txt", "template": "cls_sep",
                "lowercase": bool(tok_cfg.get("do_lower_case", True))}
    elif (src / "vocab.json").is_file() and (src / "merges.txt").is_file():
        _byte_level_bpe_json(src, out)
        node = {"name": "hf", "path": "tokenizer.json", "template": "none"}
    elif (src / "spiece.model").is_file():
        # transformers appends T5's <extra_id_N> sentinels after the sentencepiece vocabulary; our sentencepiece
        # tokenizer only knows pieces inside the model, so the sentinels are left out (prefer tokenizer.json)
        node = {"name": "sentencepiece", "model_file": "spiece.model", "template": "eos", "pad": "<pad>",
                "eos": "</s>", "unk": "<unk>", "bos": None, "mask": None, "cls": None, "sep": None,
                "num_sentinels": 0}
    else:
        return None
    (out / "tokenizer.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(node)))
    return node


def copy_back(tok_dir: Path, out: Path) -> None:
    """Export: put the tokenizer files (not our tokenizer.yaml) next to the weights, under the names
    `transformers` looks for: a sentencepiece model trained by nlpf becomes spiece.model, with a
    tokenizer_config.json naming its special pieces (its sentinels are pieces of the model: no extra ids)."""
    if not tok_dir.is_dir():
        return
    node = OmegaConf.load(tok_dir / "tokenizer.yaml") if (tok_dir / "tokenizer.yaml").is_file() else {}
    model_file = node.get("model_file") if node.get("name") == "sentencepiece" else None
    for f in tok_dir.iterdir():
        if f.is_file() and f.name != "tokenizer.yaml":
            shutil.copy2(f, out / ("spiece.model" if f.name == model_file else f.name))
    if model_file and not (tok_dir / "tokenizer_config.json").is_file():
        special = {f"{k}_token": node.get(k) for k in ("eos", "unk", "pad", "bos") if node.get(k)}
        (out / "tokenizer_config.json").write_text(json.dumps({**special, "extra_ids": 0}, indent=2) + "\n")
