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


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=["umask022", "umask077", "umask002"])
def umask(request):
    """Runs the test under each umask (files nlpf writes must get the permissions it gives)."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)
