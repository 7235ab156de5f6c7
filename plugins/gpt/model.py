"""GPT-2 decoder, built from framework.modules."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from framework.modules import BackboneOutput, Embeddings, TransformerLayer, attention_bias
from framework.modules.layer_step import norm_fn, plain_modules, stack_step


class GPT(nn.Module):
    kind = "decoder"
    static_cache = True  # generation may pass a preallocated framework.modules.kv_cache.StaticCache

    def __init__(self, cfg):
        super().__init__()
        self.hidden_size = cfg.n_embd
        self.vocab_size = cfg.vocab_size
        self.max_positions = cfg.n_positions
        head_dim = cfg.n_embd // cfg.n_head
        self.embeddings = Embeddings(cfg.vocab_size, cfg.n_embd, max_positions=cfg.n_positions, dropout=cfg.dropout)
        self.layers = nn.ModuleList()
        for i in range(cfg.n_layer):
            scale = head_dim ** -0.5 if cfg.scale_attn_weights else 1.0
            if cfg.scale_attn_by_inverse_layer_idx:
                scale /= i + 1
            self.layers.append(TransformerLayer(
                cfg.n_embd, cfg.n_head, cfg.n_inner or 4 * cfg.n_embd,
                act=cfg.activation_function, norm="layer", eps=cfg.layer_norm_epsilon, pre_norm=True,
                attn_scale=scale, dropout=cfg.dropout, attn_dropout=cfg.attention_dropout,
            ))
        self.final_norm = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word

    @torch.no_grad()
    def init_weights(self, std: float = 0.02) -> None:
        """From-scratch weights as in GPT-2: normal(0, std) matrices, zero biases, unit norms; the projections
        that write into the residual stream (attention out, feed-forward down) get std / sqrt(2 * n_layer), so
        the residual's variance does not grow with depth."""
        residual_std = std / (2 * len(self.layers)) ** 0.5
        for name, module in self.named_modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                last = name.rsplit(".", 1)[-1]
                module.weight.normal_(0.0, residual_std if last in ("out", "down") else std)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                past_key_values=None, use_cache: bool = False, output_hidden_states: bool = False,
                position_ids: Optional[torch.Tensor] = None) -> BackboneOutput:
        """attention_mask covers the cached positions too: [B, past + L]. position_ids [B, L] defaults to
        past + arange(L) (pass them for left-padded prompts)."""
        past = past_key_values[0][0].shape[2] if past_key_values else 0
        n = input_ids.shape[1]
        x = self.embeddings(input_ids, past_length=past, position_ids=position_ids)
        bias, is_causal = attention_bias(attention_mask, n, past + n, causal=True, device=x.device)
        states = [x] if output_hidden_states else None
        cache = [] if use_cache else None
        for i, layer in enumerate(self.layers):
            x, entry = layer(x, bias=bias, is_causal=is_causal,
                             cache=past_key_values[i] if past_key_values else None, use_cache=use_cache)
            if cache is not None:
                cache.append(entry)
            if states is not None:
                states.append(x)
        x = self.final_norm(x)
        if states is not None:
            states[-1] = x  # like GPT-2: the last hidden state is the normed one
        return BackboneOutput(x, tuple(states) if states is not None else None,
                              tuple(cache) if cache is not None else None)

    def decoding_step(self) -> Optional[Callable]:
        """forward() for one new token per row after the prompt, without module calls (decoding at batch 1 is
        bound by per-call overhead; framework/modules/layer_step.py), or None when it cannot be replayed exactly.

        The function takes ids [B, 1], the StaticCache the prompt's forward filled, attention_mask [B, past + 1]
        (None without padding) and position_ids [B, 1] (None: the next position), and returns the last hidden
        state [B, 1, hidden], the same floats as forward()."""
        e = self.embeddings
        if (type(self) is not GPT or type(e) is not Embeddings or self.training or e.norm is not None  # a subclass
                or e.token_type is not None or type(e.word) is not nn.Embedding  # may change forward()
                or type(e.position) is not nn.Embedding or e.word.max_norm is not None
                or e.position.max_norm is not None or not plain_modules(self)):
            return None
        layers, final_norm = stack_step(self.layers), norm_fn(self.final_norm)
        if layers is None or final_norm is None:
            return None
        word, position = e.word.weight, e.position.weight

        def step(ids: torch.Tensor, cache, attention_mask: Optional[torch.Tensor] = None,
                 position_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
            x = F.embedding(ids, word)
            x = x + (position[cache[0].length] if position_ids is None else F.embedding(position_ids, position))
            mask = None if attention_mask is None else attention_mask[:, None, None, :].to(torch.bool)
            return final_norm(layers(x, cache, mask))

        return step


def build(cfg) -> GPT:
    """Build a GPT-2 decoder.

    Hyperparameters (cfg fields): vocab_size, n_positions, n_embd, n_layer, n_head, n_inner,
    activation_function, dropout, attention_dropout, layer_norm_epsilon,
    scale_attn_weights, scale_attn_by_inverse_layer_idx.
    """
    return GPT(cfg)
