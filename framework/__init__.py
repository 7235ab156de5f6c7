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


def load(path: str, device: Any = "cpu", dtype: Any = None, **unknown: Any):
    """Load an nlpf checkpoint directory (from `nlpf train` or `nlpf import hf`), a run directory, or a
    packaged model by name (`"hf-packaged:minilm"`).

    `device`: "cpu" (default), "cuda", "cuda:N", "mps" or a torch.device. `dtype`: "float32" or "bfloat16"
    (or torch.float32 / torch.bfloat16); by default the weights stay as saved (float32). The same values as
    `device=` and `dtype=` on the commands; an unknown or unavailable one is refused before the load.

    Returns a `framework.pipeline.Pipeline` with `.model`, `.tokenizer`, `.config` and the
    inference methods `.predict`, `.generate`, `.score`, `.rescore` and `.embed`.
    """
    if unknown:
        from framework.errors import NlpfError, did_you_mean

        key = next(iter(unknown))
        hint = "framework.load(path, device=..., dtype=...)"
        if key == "torch_dtype":
            hint = "nlpf calls it dtype=: framework.load(path, dtype='bfloat16')"
        elif key == "device_map":
            hint = "nlpf loads the whole model on one device: framework.load(path, device='cuda')"
        raise NlpfError(f"unknown argument '{key}' of framework.load." + did_you_mean(key, ["device", "dtype"]),
                        hint=hint)
    from framework.pipeline import load_pipeline

    return load_pipeline(path, device=device, dtype=dtype)
