import pytest

from framework import plugins


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Trained tokenizers go to a temporary cache; plugins are discovered afresh for each test."""
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path / "cache"))
    plugins.reset()
    yield
    plugins.reset()
