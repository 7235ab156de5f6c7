"""Tokenize once: token arrays saved as .npy files and memory-mapped on every later run.

A cache entry is a directory named by a hash of (tokenizer, data, task, settings). It is written to a
temporary directory and renamed into place, so a crash never leaves a half-written entry behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from framework.atomic import apply_umask

FORMAT_VERSION = 1
META = "meta.json"


def cache_key(*parts) -> str:
    payload = json.dumps([FORMAT_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def token_cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    from framework.data.fetch import cache_root

    return Path(cache_dir) if cache_dir is not None else cache_root() / "tokens"


def load_entry(directory: Path) -> tuple[dict, dict[str, dict[str, np.ndarray]]] | None:
    """(meta, {split: {field: memory-mapped array}}), or None when there is no complete entry."""
    meta_path = directory / META
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    arrays = {
        split: {name: np.load(directory / f"{split}.{name}.npy", mmap_mode="r") for name in info["fields"]}
        for split, info in meta["splits"].items()
    }
    return meta, arrays


def save_entry(directory: Path, meta: dict, arrays: dict[str, dict[str, np.ndarray]]) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-"))
    try:
        meta = dict(meta, splits={})
        for split, fields in arrays.items():
            for name, array in fields.items():
                np.save(tmp / f"{split}.{name}.npy", np.ascontiguousarray(array))
            meta["splits"][split] = {"fields": sorted(fields), "examples": int(len(fields["index"]) - 1)
                                     if "index" in fields else None}
        (tmp / META).write_text(json.dumps(meta, indent=1, ensure_ascii=False))
        apply_umask(tmp)  # mkdtemp's 0700: a cache shared by users of one machine must stay readable
        try:
            os.replace(tmp, directory)
        except OSError:  # a concurrent writer (another rank) got there first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ragged(sequences: list[list[int]], dtype=np.int32) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate variable-length sequences: (flat values, index with index[i]:index[i+1] = sequence i)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    index = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=index[1:])
    flat = np.fromiter((t for s in sequences for t in s), dtype=dtype, count=int(index[-1]))
    return flat, index


def id_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32
