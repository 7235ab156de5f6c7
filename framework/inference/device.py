"""Checking a `device=` value before any work is done on it."""
from __future__ import annotations

import torch

from framework.errors import NlpfError

_CHOICES = "use device=cpu, device=cuda (or cuda:N) or device=mps"


def usable_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device, or an NlpfError naming it when it is unknown or not available here (torch
    itself fails late, with "Torch not compiled with CUDA enabled" or an invalid device ordinal)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise NlpfError(f"unknown device: device={device}", hint=_CHOICES) from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        hint = "use device=cpu, or run on a machine with a CUDA GPU and a CUDA build of PyTorch"
        if not torch.backends.cuda.is_built():
            problem = "this PyTorch build has no CUDA support"
        elif not torch.cuda.is_available():
            problem = "no CUDA GPU is visible"
        elif dev.index is not None and dev.index >= torch.cuda.device_count():
            problem = f"there is no GPU {dev.index} ({torch.cuda.device_count()} visible, numbered from 0)"
            hint = "use device=cuda:0 (or device=cpu)"
        else:
            return dev
    elif dev.type == "mps":
        if torch.backends.mps.is_available():
            return dev
        problem, hint = "Apple's MPS backend is not available on this machine", "use device=cpu"
    else:
        raise NlpfError(f"device={device} is not supported for inference", hint=_CHOICES)
    raise NlpfError(f"device={device} is not available: {problem}", hint=hint)


# the names `dtype=` takes on the commands and in `framework.load`
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def usable_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """`dtype` (float32 | bfloat16 | bf16, or torch.float32 / torch.bfloat16) as a torch.dtype, or an NlpfError with a
    did-you-mean for any other."""
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
        name = str(dtype).replace("torch.", "")
    elif isinstance(dtype, str):
        if dtype in DTYPES:
            return DTYPES[dtype]
        name = dtype
    else:
        raise NlpfError(f"unknown dtype {dtype!r} ({type(dtype).__name__})", hint="dtype=float32|bfloat16")
    from framework.errors import did_you_mean

    hint = "dtype=float32|bfloat16"
    if name in ("float16", "fp16", "half"):
        hint += " (float16 is not supported for inference; bfloat16 halves the memory as well)"
    raise NlpfError(f"unknown dtype '{name}'." + did_you_mean(name, DTYPES), hint=hint)
