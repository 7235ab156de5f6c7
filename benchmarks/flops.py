"""Shared by mfu.py and gpu_gpt2.py: a transformer's training FLOPs and the machine's measured matmul peak."""
from __future__ import annotations

import time

import torch


def train_flops_per_token(layers: int, hidden: int, vocab: int, seq: int, ffn: int | None = None,
                          head_tokens: float = 1.0) -> float:
    """Model FLOPs of one training token (forward + backward = 3x forward; no recomputation counted).

    Per layer: QKV + output projections 4h^2, FFN 2*h*ffn multiply-adds per token; attention scores and
    weighted sum 2*seq*h (full, as in the PaLM appendix). LM head h*V multiply-adds on `head_tokens` of the
    tokens (masked LM computes it only at the ~15% targets). A multiply-add is 2 FLOPs.
    """
    ffn = ffn or 4 * hidden
    per_layer = 4 * hidden * hidden + 2 * hidden * ffn + 2 * seq * hidden
    forward_macs = layers * per_layer + head_tokens * hidden * vocab
    return 3 * 2 * forward_macs


def matmul_peak(device: str, dtype: torch.dtype, size: int = 2048, seconds: float = 1.0) -> float:
    """Best FLOP/s of a size^3 matrix multiply, measured now on this device (what the hardware really does)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    best, spent = 0.0, 0.0
    while spent < seconds:
        reps = 10 if device.startswith("cuda") else 2
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync()
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = max(best, 2 * size ** 3 * reps / elapsed)
    return best
