"""What every backbone returns (see docs/internals.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class BackboneOutput:
    """Output of a backbone's forward, encode or decode.

    last_hidden_state: [B, L, H] after the final norm (if the architecture has one).
    hidden_states: the embeddings output followed by every layer's output (the last one normed), when asked for.
    past_key_values: one tuple of cached key/value tensors per layer, when `use_cache=True`.
    encoder_last_hidden_state: the encoder output (encoder-decoder models only).
    encoder_hidden_states: the encoder's per-layer states (encoder-decoder forward with output_hidden_states).
    """

    last_hidden_state: torch.Tensor
    hidden_states: Optional[tuple[torch.Tensor, ...]] = None
    past_key_values: Optional[tuple[tuple[torch.Tensor, ...], ...]] = None
    encoder_last_hidden_state: Optional[torch.Tensor] = None
    encoder_hidden_states: Optional[tuple[torch.Tensor, ...]] = None
