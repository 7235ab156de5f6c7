"""LSTM backbones, the family before transformers: a left-to-right LSTM language model (kind `decoder`)
and a bidirectional LSTM encoder (kind `encoder`). Both follow nlpf's backbone contract, so the
built-in objectives and heads (causal_lm + lm, sequence_classification, ...) train them unchanged.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from framework.errors import ConfigError
from framework.modules.outputs import BackboneOutput


def init_lstm_stack(model: nn.Module) -> None:
    """PyTorch's defaults: embeddings normal(0, 1), LSTM weights uniform in [-1/sqrt(H), 1/sqrt(H)], LayerNorm at
    identity. (nlpf's transformer-style normal(0, 0.02) embeddings make small LSTMs learn far slower.)"""
    model.embed.reset_parameters()
    for lstm in model.layers:
        lstm.reset_parameters()
    model.norm.reset_parameters()


class LSTMLanguageModel(nn.Module):
    """Embeddings -> a stack of one-layer LSTMs (dropout between) -> LayerNorm.

    The cache (`past_key_values`) is the recurrent state: a tuple of (h, c) per layer, each [B, H]
    (batch first, so nlpf's generation can pick beam rows with `index_select(0, ...)`).
    """

    kind = "decoder"

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.layers = nn.ModuleList(nn.LSTM(hidden_size, hidden_size, batch_first=True) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_size)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed

    @torch.no_grad()
    def init_weights(self) -> None:
        """Used by nlpf when training from scratch (instead of its transformer-style normal(0, 0.02))."""
        init_lstm_stack(self)

    def _run_layer(self, lstm: nn.LSTM, x, state, mask, exact_state: bool):
        # right padding comes after every real token, so a causal pass is exact for the real positions;
        # only the final state (the cache) would have seen the padding
        right_padded = mask is not None and bool((mask[:, 1:] <= mask[:, :-1]).all())
        if mask is None or bool(mask.all()) or (right_padded and not exact_state):
            out, (h, c) = lstm(x, None if state is None else (state[0][None], state[1][None]))
            return out, (h[0], c[0])
        # padded positions (left padding of batched prompts) must leave the state untouched: step by step
        batch = x.shape[0]
        h, c = state if state is not None else (x.new_zeros(batch, self.hidden_size),) * 2
        outputs = []
        for t in range(x.shape[1]):
            _, (h_new, c_new) = lstm(x[:, t:t + 1], (h[None], c[None]))
            keep = mask[:, t, None].to(x.dtype)
            h = keep * h_new[0] + (1 - keep) * h
            c = keep * c_new[0] + (1 - keep) * c
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)

    def forward(self, input_ids, attention_mask=None, past_key_values=None, use_cache=False,
                output_hidden_states=False, **unused) -> BackboneOutput:
        x = self.embed(input_ids)
        # the mask covers the cached prefix too; only the positions of this call matter here
        mask = None if attention_mask is None else attention_mask[:, -input_ids.shape[1]:]
        all_hidden = [x]
        new_cache = []
        for i, lstm in enumerate(self.layers):
            state = None if past_key_values is None else past_key_values[i]
            x, state = self._run_layer(lstm, self.dropout(x) if i else x, state, mask, exact_state=use_cache)
            new_cache.append(state)
            all_hidden.append(x)
        hidden = self.norm(x)
        all_hidden[-1] = hidden
        return BackboneOutput(
            last_hidden_state=hidden,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
            past_key_values=tuple(new_cache) if use_cache else None,
        )


class LSTMEncoder(nn.Module):
    """Embeddings -> a bidirectional multi-layer LSTM over the real tokens (packed) -> LayerNorm.

    `hidden_size` is the output width: each direction has hidden_size // 2 units.
    """

    kind = "encoder"

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.layers = nn.ModuleList(
            nn.LSTM(hidden_size, hidden_size // 2, batch_first=True, bidirectional=True) for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_size)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed

    @torch.no_grad()
    def init_weights(self) -> None:
        init_lstm_stack(self)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                **unused) -> BackboneOutput:
        x = self.embed(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        # right padding: pack so the backward direction starts at each sequence's last real token
        lengths = attention_mask.long().sum(-1).clamp_min(1).cpu()
        all_hidden = [x]
        for i, lstm in enumerate(self.layers):
            packed = pack_padded_sequence(self.dropout(x) if i else x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = lstm(packed)
            x, _ = pad_packed_sequence(out, batch_first=True, total_length=input_ids.shape[1])
            all_hidden.append(x)
        hidden = self.norm(x)
        all_hidden[-1] = hidden
        return BackboneOutput(last_hidden_state=hidden,
                              hidden_states=tuple(all_hidden) if output_hidden_states else None)


def build_lm(cfg) -> LSTMLanguageModel:
    """LSTM language model (decoder).

    Args:
        cfg.vocab_size: number of token ids; at least the tokenizer's vocabulary.
        cfg.hidden_size: width of the embeddings and of every LSTM layer.
        cfg.num_layers: stacked LSTM layers.
        cfg.dropout: dropout between LSTM layers.
    """
    return LSTMLanguageModel(int(cfg.vocab_size), int(cfg.hidden_size), int(cfg.num_layers), float(cfg.dropout))


def build_encoder(cfg) -> LSTMEncoder:
    """Bidirectional LSTM encoder.

    Args:
        cfg.vocab_size: number of token ids; at least the tokenizer's vocabulary.
        cfg.hidden_size: output width (even: half per direction); also the embedding width.
        cfg.num_layers: stacked bidirectional LSTM layers.
        cfg.dropout: dropout between LSTM layers.
    """
    if int(cfg.hidden_size) % 2:
        raise ConfigError(f"model.hidden_size={cfg.hidden_size} must be even for the bidirectional lstm_encoder",
                          hint=f"set model.hidden_size={int(cfg.hidden_size) + 1}")
    return LSTMEncoder(int(cfg.vocab_size), int(cfg.hidden_size), int(cfg.num_layers), float(cfg.dropout))
