"""nlpf core: registries, plugins, configs, training and inference. Importing it registers nothing
and does not import torch; `framework.load` imports what it needs on first use."""
from __future__ import annotations

from typing import Any

__all__ = ["load", "__version__"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("nlpf")
except Exception:  # noqa: BLE001 - running from a source tree that is not installed
    __version__ = "0+unknown"


def load(path: str, **kwargs: Any):
    """Load an nlpf checkpoint directory (from `nlpf train` or `nlpf import hf`), a run directory, or a
    packaged model by name (`"hf-packaged:minilm"`).

    Returns a `framework.pipeline.Pipeline` with `.model`, `.tokenizer`, `.config` and the
    inference methods `.predict`, `.generate`, `.score`, `.rescore` and `.embed`.
    """
    from framework.pipeline import load_pipeline

    return load_pipeline(path, **kwargs)
