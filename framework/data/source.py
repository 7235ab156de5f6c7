"""The data-source contract and what every source shares: deterministic seeded splits that are recorded,
and checks that turn bad data into clear errors before training starts."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any, Iterable, Sequence

from framework.errors import NlpfError

SPLITS = ("train", "validation", "test")


class DataSource:
    """Gives examples (dicts in the task's format, see docs/internals.md) per split.

    Subclasses implement `read()` -> {split: examples}; a source that has a single pool of examples returns
    {"all": examples} and the split is derived here by a seeded shuffle. `notes` records what a reader
    removed or repaired; `split_record()` tells which examples went where.
    """

    name = "source"
    label_names: list[str] | None = None  # a fixed label order when the data set defines one

    def __init__(self, cfg):
        self.cfg = cfg
        self.notes: list[str] = []
        self._splits: dict[str, list[dict]] | None = None

    # subclasses -------------------------------------------------------------------------------
    def read(self) -> dict[str, list[dict]]:
        raise NotImplementedError

    def fingerprint_parts(self) -> list[Any]:
        """Things besides the config that decide the examples (file sizes and times, pinned hashes). By default
        the size and modification time of the files that path-like keys name (`path`, `*_path`, `*_file`,
        `*_dir`; not a cache directory's), so that editing a data file is never answered from a stale token cache."""
        return [(key, file_stats(_named_files(value))) for key, value in sorted(_items(self.cfg))
                if (key == "path" or key.endswith(("_path", "_file", "_dir"))) and "cache" not in key]

    # shared -----------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Changes whenever the examples could change (the config, the files, the source's code and the version
        of the plugin providing it); computed without reading the data."""
        from omegaconf import OmegaConf

        from framework.plugins import code_identity

        cfg = OmegaConf.to_container(self.cfg, resolve=True) if not isinstance(self.cfg, dict) else self.cfg
        code = code_identity(*(c.__module__ for c in type(self).__mro__ if issubclass(c, DataSource)))
        payload = json.dumps([type(self).__name__, cfg, self.fingerprint_parts(), code], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def splits(self) -> dict[str, list[dict]]:
        if self._splits is None:
            raw = self.read()
            if set(raw) == {"all"}:
                raw = derive_splits(raw["all"], self.cfg.get("split_seed", 0),
                                    self.cfg.get("validation_ratio", 0.1), self.cfg.get("test_ratio", 0.1))
            limit = self.cfg.get("max_examples")
            if limit:
                raw = {k: sample(v, int(limit), self.cfg.get("split_seed", 0)) for k, v in raw.items()}
            for split, examples in raw.items():
                if not examples:
                    raise NlpfError(
                        f"data '{self.cfg.get('name', self.name)}': the {split} split is empty",
                        hint="check the files and field names, or change validation_ratio/test_ratio",
                    )
            self._splits = raw
        return self._splits

    def split_record(self) -> dict:
        """Counts and a content hash per split, so that every run can show it saw the same test set."""
        record = {"source": self.cfg.get("name", self.name), "seed": self.cfg.get("split_seed", 0),
                  "notes": list(self.notes), "splits": {}}
        for split, examples in self.splits().items():
            digest, count = hashlib.sha256(), 0
            for ex in examples:  # may be a stream: counted while hashing
                digest.update(json.dumps(ex, sort_keys=True, ensure_ascii=False).encode())
                count += 1
            record["splits"][split] = {"count": count, "sha256": digest.hexdigest()[:16]}
        return record


def _items(cfg) -> list[tuple[str, Any]]:
    return [(str(k), cfg[k]) for k in cfg] if hasattr(cfg, "keys") else []


def _named_files(value: Any) -> list[Path]:
    """The files a path-like config value names: a file, a directory's files, a glob's matches; [] for others."""
    if not isinstance(value, str) or not value or value == "???":
        return []
    spec = os.path.expanduser(value)
    if any(ch in spec for ch in "*?["):
        return sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    path = Path(spec)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path] if path.is_file() else []


def file_stats(files: Sequence[Path]) -> list:
    """(resolved path, size, modification time) per file: what changes when a file is edited or replaced."""
    return [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def sample(examples: Sequence[dict], limit: int, seed: int) -> list[dict]:
    """`limit` examples spread over the whole split, in their order: the first N of a file sorted by label
    would all have one label. Seeded, so the same on every machine."""
    if len(examples) <= limit:
        return list(examples)
    import random

    keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in keep]


def derive_splits(examples: Sequence[dict], seed: int, validation_ratio: float, test_ratio: float) -> dict[str, list[dict]]:
    """Seeded shuffle, then cut into train/validation/test. Same inputs, same split, on every machine."""
    if not examples:
        raise NlpfError("the data set is empty: no examples were read",
                        hint="check the path, the file contents and the field names")
    if validation_ratio < 0 or test_ratio < 0 or validation_ratio + test_ratio >= 1:
        raise NlpfError(f"validation_ratio={validation_ratio} and test_ratio={test_ratio} leave no training data",
                        hint="use ratios >= 0 whose sum is below 1")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n = len(order)
    n_val = max(1, round(n * validation_ratio)) if validation_ratio else 0  # a requested split is never empty
    n_test = max(1, round(n * test_ratio)) if test_ratio else 0
    if n - n_val - n_test < 1:
        raise NlpfError(f"only {n} examples: too few to derive validation/test splits and keep training data",
                        hint="add data, or set validation_ratio=0 / test_ratio=0")
    parts = {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    return {k: [examples[i] for i in sorted(v)] for k, v in parts.items() if v or k == "train"}


def dedupe(examples: Iterable[dict], key) -> tuple[list[dict], int]:
    """Keep the first example of each key; return (kept, number removed)."""
    examples = list(examples)
    seen, kept = set(), []
    for ex in examples:
        k = key(ex)
        if k not in seen:
            seen.add(k)
            kept.append(ex)
    return kept, len(examples) - len(kept)
