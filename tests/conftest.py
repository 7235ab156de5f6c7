import pytest

from framework import plugins


@pytest.fixture(autouse=True)
def _fresh_plugin_state():
    """Each test sees plugins as installed now (tests may add dist-info directories to sys.path)."""
    plugins.reset()
    yield
    plugins.reset()
