import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch, tmp_path_factory):
    """Runs go to a fresh working directory; token caches are shared across the session; no env leaks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path_factory.getbasetemp() / "nlpf_cache"))
    for key in ("NLPF_RUN_DIR", "NLPF_RESUME_CKPT", "LOCAL_RANK", "NODE_RANK"):
        monkeypatch.delenv(key, raising=False)
    yield
    for key in ("NLPF_RUN_DIR", "NLPF_RESUME_CKPT"):
        os.environ.pop(key, None)
