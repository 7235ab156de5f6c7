"""Renaming weights between Hugging Face layouts and ours.

One `Param` says which of our tensors is made of which HF tensors: several HF tensors are concatenated along
dim 0 (q, k, v -> fused qkv; wi_0, wi_1 -> fused gated up projection); GPT-2's Conv1D stores [in, out] and
is transposed. Export splits and transposes back, so import followed by export is the identity.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import torch

from framework.errors import NlpfError


@dataclass(frozen=True)
class Param:
    ours: str
    hf: tuple[str, ...]
    transpose: bool = False


def _t(x: torch.Tensor, transpose: bool) -> torch.Tensor:
    return x.t() if transpose and x.dim() == 2 else x


def to_ours(params: Iterable[Param], hf: dict[str, torch.Tensor], ignore: Iterable[str], source: str
            ) -> dict[str, torch.Tensor]:
    """Build our state dict; every HF tensor must be used or match an `ignore` regex."""
    params = list(params)
    missing = [n for p in params for n in p.hf if n not in hf]
    if missing:
        raise NlpfError(f"'{source}' lacks weights its config.json implies: {', '.join(missing[:5])}"
                        + (" ..." if len(missing) > 5 else ""),
                        hint="the weights and config.json do not belong together, or the file is incomplete")
    used = {n for p in params for n in p.hf}
    patterns = [re.compile(p) for p in ignore]
    unused = sorted(n for n in hf if n not in used and not any(p.search(n) for p in patterns))
    if unused:
        raise NlpfError(f"'{source}' has weights nlpf would not use: {', '.join(unused[:5])}"
                        + (" ..." if len(unused) > 5 else ""),
                        hint="the checkpoint has parts (heads, layers) its config.json does not describe; "
                        "nlpf refuses to import a silently different model")
    out = {}
    for p in params:
        parts = [_t(hf[n], p.transpose) for n in p.hf]
        out[p.ours] = (parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)).contiguous()
    return out


def to_hf(params: Iterable[Param], ours: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for p in params:
        tensor = ours[p.ours]
        parts = tensor.chunk(len(p.hf), dim=0) if len(p.hf) > 1 else (tensor,)
        for name, part in zip(p.hf, parts):
            out[name] = _t(part, p.transpose).contiguous().clone()
    return out


def unsupported(field: str, value, supported: str, family: str) -> NlpfError:
    return NlpfError(
        f"config.json field '{field}' = {value!r} is not supported by nlpf's {family} model",
        hint=f"supported: {supported}. nlpf refuses to import a model that would compute something different",
    )
