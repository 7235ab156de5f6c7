"""Memory settings of a training run: `keep_freed_memory` (trainer.keep_freed_memory) and
`checkpoint_activations` (trainer.activation_checkpointing).

keep_freed_memory keeps freed memory in the process instead of handing it back to the OS after every step
(glibc only). glibc serves allocations above 32 MB with a fresh `mmap` and unmaps them when freed, so a tensor
that large made every step (a word-embedding gradient: 30522 x 384 floats is 47 MB) is page-faulted in and
zeroed by the kernel each time: 10 ms of a 250 ms MiniLM step, and slower neighbours. With mmap off and
trimming raised, freed blocks stay in the heap and the next step reuses them. The process keeps its peak
memory until it exits, which is what a training process does anyway. No effect where the C library is not
glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Tell glibc malloc to serve all allocations from the heap and keep what is freed; True when it took."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1))


def checkpoint_activations(model) -> int:
    """Turn on activation checkpointing in every `framework.modules.TransformerLayer` of `model` (the built-in
    BERT, GPT-2 and T5 blocks); returns how many layers it reached."""
    from framework.modules.layer import TransformerLayer

    layers = [m for m in model.modules() if isinstance(m, TransformerLayer)]
    for layer in layers:
        layer.checkpointing = True
    return len(layers)
