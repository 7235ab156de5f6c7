import os

import pytest
from hypothesis import settings

from framework import plugins

# CI replays the same examples on every run so that a red run is reproducible; locally, examples vary.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("NLPF_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _fresh_plugin_state():
    """Each test sees plugins as installed now (tests may add dist-info directories to sys.path)."""
    plugins.reset()
    yield
    plugins.reset()
