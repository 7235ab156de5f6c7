"""T5 encoder-decoder, built from framework.modules."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from framework.errors import ConfigError
from framework.modules import (Attention, BackboneOutput, Dropout, FeedForward, RMSNorm, RelativePositionBias, TransformerLayer, activation,
                               attention_bias, bias_for_compute, causal_mask, padding_mask, to_bias)
from framework.modules.layer_step import norm_fn, plain_modules, stack_step


def parse_feed_forward_proj(value: str) -> tuple[str, bool]:
    """"relu" -> ("relu", False); "gated-gelu" -> ("gelu_new", True), as in the reference implementation."""
    parts = value.split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
        raise ConfigError(f"invalid model.feed_forward_proj {value!r}",
                          hint="use ACT or gated-ACT, e.g. relu, gated-gelu, gated-silu")
    act = "gelu_new" if value == "gated-gelu" else parts[-1]
    activation(act)  # unknown activation -> clear error now, not at the first forward
    return act, len(parts) == 2


class T5Stack(nn.Module):
    """The encoder (bidirectional) or the decoder (causal, with cross-attention)."""

    def __init__(self, cfg, num_layers: int, decoder: bool):
        super().__init__()
        act, gated = parse_feed_forward_proj(cfg.feed_forward_proj)
        self.decoder = decoder
        self.relative_bias = RelativePositionBias(cfg.num_heads, cfg.relative_attention_num_buckets,
                                                  cfg.relative_attention_max_distance, bidirectional=not decoder)
        self.layers = nn.ModuleList(
            TransformerLayer(
                cfg.d_model, cfg.num_heads, cfg.d_ff, head_dim=cfg.d_kv, act=act, gated=gated, bias=False,
                norm="rms", eps=cfg.layer_norm_epsilon, pre_norm=True, cross_attention=decoder,
                attn_scale=1.0, dropout=cfg.dropout, attn_dropout=cfg.attention_dropout, ffn_dropout=cfg.dropout,
            )
            for _ in range(num_layers)
        )
        self.final_norm = RMSNorm(cfg.d_model, eps=cfg.layer_norm_epsilon)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x, attention_mask=None, memory=None, memory_mask=None, past_key_values=None,
                use_cache=False, output_hidden_states=False) -> BackboneOutput:
        past = past_key_values[0][0].shape[2] if past_key_values else 0
        n = x.shape[1]
        # the position bias (computed once, shared by all layers) carries the padding/causal mask too
        bias = self.relative_bias(n, past + n, past)
        mask, _ = attention_bias(attention_mask, n, past + n, causal=self.decoder, device=x.device)
        if self.decoder and mask is None and n > 1:  # is_causal cannot combine with a bias: build it
            mask = causal_mask(n, past + n, x.device)
        bias = bias if mask is None else bias + to_bias(mask, bias.dtype)
        bias, memory_bias = self._for_compute(x, bias, memory_mask)
        if bias.requires_grad and bias.shape[0] != x.shape[0]:
            # training: expand over the batch once, so every layer's score matmul adds it as a view
            bias = bias.expand(x.shape[0], -1, -1, -1).contiguous()
        if self.training:  # skipped in eval: decoding runs this stack once per token
            x = self.dropout(x)
        states = [x] if output_hidden_states else None
        cache = [] if use_cache else None
        for i, layer in enumerate(self.layers):
            x, entry = layer(x, bias=bias, memory=memory, memory_bias=memory_bias,
                             cache=past_key_values[i] if past_key_values else None, use_cache=use_cache)
            if cache is not None:
                cache.append(entry)
            if states is not None:
                states.append(x)
        x = self.final_norm(x)
        if self.training:
            x = self.dropout(x)
        if states is not None:
            states[-1] = x
        return BackboneOutput(x, tuple(states) if states is not None else None,
                              tuple(cache) if cache is not None else None)

    def _for_compute(self, x, bias, memory_mask):
        """(self-attention bias, cross-attention bias from the encoder's padding) in the compute dtype."""
        memory_allowed = padding_mask(memory_mask) if self.decoder else None
        memory_bias = to_bias(memory_allowed, x.dtype) if memory_allowed is not None else None
        return bias_for_compute(bias, x.device.type), bias_for_compute(memory_bias, x.device.type)

    def decoding_step(self) -> Optional[Callable]:
        """The decoder's forward() for one position per row once the cache holds the cross-attention keys
        and values, without module calls (framework/modules/layer_step.py); None for the encoder, in training,
        for a subclass (its own forward would be skipped) or when a layer cannot be replayed exactly.
        (x [B, 1, d_model], StaticCache, memory_mask) -> [B, 1, d_model]."""
        if type(self) is not T5Stack or not self.decoder or self.training or not plain_modules(self):
            return None
        layers, final_norm = stack_step(self.layers), norm_fn(self.final_norm)
        if layers is None or final_norm is None:
            return None

        def step(x: torch.Tensor, cache, memory_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
            past = cache[0].length
            bias, memory_bias = self._for_compute(x, self.relative_bias(1, past + 1, past), memory_mask)
            return final_norm(layers(x, cache, bias, memory_bias))

        return step


class T5(nn.Module):
    kind = "encoder-decoder"
    static_cache = True  # generation may pass a preallocated framework.modules.kv_cache.StaticCache

    def __init__(self, cfg):
        super().__init__()
        self.hidden_size = cfg.d_model
        self.vocab_size = cfg.vocab_size
        self.decoder_start_token_id = cfg.decoder_start_token_id
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)  # encoder and decoder inputs share it
        self.encoder = T5Stack(cfg, cfg.num_layers, decoder=False)
        self.decoder = T5Stack(cfg, cfg.num_decoder_layers or cfg.num_layers, decoder=True)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared

    @torch.no_grad()
    def init_weights(self) -> None:
        """From-scratch weights in T5's scheme: each matrix normal with std fan_in^-0.5, the query's also carrying
        the head_dim^-0.5 that attention leaves out (scale 1.0); unit-variance embeddings, which the tied LM head
        rescales by d_model^-0.5. GPT-style std 0.02 everywhere leaves a tied T5 with near-uniform logits that
        barely learn."""
        d = self.hidden_size
        self.shared.weight.normal_(0.0, 1.0)
        for module in self.modules():
            if isinstance(module, Attention):
                inner = module.num_heads * module.head_dim
                query = module.q.weight if module.cross else module.qkv.weight[:inner]
                keys_values = module.kv.weight if module.cross else module.qkv.weight[inner:]
                query.normal_(0.0, (d * module.head_dim) ** -0.5)
                keys_values.normal_(0.0, d ** -0.5)
                module.out.weight.normal_(0.0, inner ** -0.5)
            elif isinstance(module, FeedForward):
                module.up.weight.normal_(0.0, d ** -0.5)
                module.down.weight.normal_(0.0, module.down.in_features ** -0.5)
            elif isinstance(module, RelativePositionBias):
                module.table.weight.normal_(0.0, d ** -0.5)
            elif isinstance(module, RMSNorm):
                module.weight.fill_(1.0)

    def encode(self, input_ids, attention_mask=None, output_hidden_states=False) -> BackboneOutput:
        return self.encoder(self.shared(input_ids), attention_mask, output_hidden_states=output_hidden_states)

    def decode(self, decoder_input_ids, encoder_hidden_states, encoder_attention_mask=None,
               decoder_attention_mask=None, past_key_values=None, use_cache=False,
               output_hidden_states=False) -> BackboneOutput:
        """decoder_attention_mask covers cached positions too: [B, past + T]."""
        out = self.decoder(self.shared(decoder_input_ids), decoder_attention_mask, encoder_hidden_states,
                           encoder_attention_mask, past_key_values, use_cache, output_hidden_states)
        out.encoder_last_hidden_state = encoder_hidden_states
        return out

    def decoding_step(self) -> Optional[Callable]:
        """decode() for one new token per row after the first (the cache then holds the cross-attention keys and
        values), without module calls: (ids [B, 1], StaticCache, encoder_attention_mask) -> last hidden state
        [B, 1, d_model], the same floats as decode(); None when it cannot be replayed exactly."""
        if type(self) is not T5 or type(self.shared) is not nn.Embedding or self.shared.max_norm is not None \
                or not plain_modules(self.shared):
            return None  # a subclass may change decode(); a hooked or renormed embedding would be skipped
        step = self.decoder.decoding_step()
        if step is None:
            return None
        weight = self.shared.weight

        def run(ids: torch.Tensor, cache, encoder_attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
            return step(F.embedding(ids, weight), cache, encoder_attention_mask)

        return run

    def forward(self, input_ids, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                past_key_values=None, use_cache=False, output_hidden_states=False,
                encoder_hidden_states: Optional[torch.Tensor] = None) -> BackboneOutput:
        encoder_states = None
        if encoder_hidden_states is None:
            enc = self.encode(input_ids, attention_mask, output_hidden_states)
            encoder_hidden_states, encoder_states = enc.last_hidden_state, enc.hidden_states
        if decoder_input_ids is None:
            decoder_input_ids = input_ids.new_full((input_ids.shape[0], 1), self.decoder_start_token_id)
        out = self.decode(decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask,
                          past_key_values, use_cache, output_hidden_states)
        out.encoder_hidden_states = encoder_states
        return out


def build(cfg) -> T5:
    """Build a T5 encoder-decoder.

    Hyperparameters (cfg fields): vocab_size, d_model, d_kv, d_ff, num_layers, num_decoder_layers, num_heads,
    relative_attention_num_buckets, relative_attention_max_distance, dropout, attention_dropout, layer_norm_epsilon,
    feed_forward_proj, decoder_start_token_id.
    """
    return T5(cfg)
