"""Task heads on top of a backbone's last hidden states: sequence classification (pooled),
token classification (per token) and extractive QA (start/end logits per token)."""
from __future__ import annotations

import torch
from torch import nn

from framework.errors import ConfigError
from framework.modules import Dropout


def _need_labels(num_labels, head: str) -> int:
    if not num_labels or num_labels < 1:
        raise ConfigError(f"head '{head}' needs the number of labels, got {num_labels!r}.",
                          hint="set head.num_labels=N, or train on a labelled data set so it is read from the data")
    return int(num_labels)


def pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """[B, L, H] -> [B, H]: the first token (cls), the mean over real tokens, or the last real token."""
    if how == "cls":
        return hidden_states[:, 0]
    if attention_mask is None:
        attention_mask = hidden_states.new_ones(hidden_states.shape[:2])
    mask = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
    if how == "mean":
        return (hidden_states * mask).sum(1) / mask.sum(1).clamp_min(1.0)
    last = attention_mask.long().sum(1).clamp_min(1) - 1  # right padding assumed
    return hidden_states[torch.arange(hidden_states.size(0), device=hidden_states.device), last]


class SequenceClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, pooling: str = "cls", dropout: float = 0.1,
                 pooler: bool = False):
        super().__init__()
        self.pooling = pooling
        # BERT's pooler (dense + tanh on [CLS]); kept optional so BertForSequenceClassification weights map on
        self.dense = nn.Linear(hidden_size, hidden_size) if pooler else None
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden_states, attention_mask=None):
        x = pool(hidden_states, attention_mask, self.pooling)
        if self.dense is not None:
            x = torch.tanh(self.dense(x))
        return self.classifier(self.dropout(x))


class TokenClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden_states, attention_mask=None):
        return self.classifier(self.dropout(hidden_states))


class QAHead(nn.Module):
    def __init__(self, hidden_size: int):
        super().__init__()
        self.qa_outputs = nn.Linear(hidden_size, 2)

    def forward(self, hidden_states, attention_mask=None):
        logits = self.qa_outputs(hidden_states)  # [B, L, 2]: start, end
        if attention_mask is not None:  # padding can never be an answer boundary
            logits = logits.masked_fill(~attention_mask.bool().unsqueeze(-1), torch.finfo(logits.dtype).min)
        return logits


def build_sequence(cfg, backbone, num_labels=None) -> SequenceClassificationHead:
    """Sequence classification head.

    Args:
        cfg.pooling: "auto" ("last" for decoders, "cls" for the others), "cls" (first token; encoders), "mean"
            (average of real tokens) or "last" (last real token; decoders).
        cfg.dropout: dropout on the pooled vector.
        cfg.pooler: add BERT's dense+tanh pooler before the classifier.
        cfg.num_labels: number of labels; null reads it from the data.
        backbone: gives `hidden_size`.
    """
    n = _need_labels(cfg.get("num_labels") or num_labels, "sequence_classification")
    decoder = getattr(backbone, "kind", None) == "decoder"
    if cfg.pooling == "cls" and decoder:  # causal: token 0 sees only itself
        raise ConfigError("head.pooling=cls on a decoder: its first token attends to nothing after it, so its state "
                          "says nothing about the text", hint="use head.pooling=last (or mean, or auto) with a decoder")
    pooling = ("last" if decoder else "cls") if cfg.pooling == "auto" else cfg.pooling
    return SequenceClassificationHead(backbone.hidden_size, n, pooling, float(cfg.dropout), bool(cfg.pooler))


def build_token(cfg, backbone, num_labels=None) -> TokenClassificationHead:
    """Token classification head (a linear layer per token; labels sit on each word's first sub-token).

    Args:
        cfg.dropout: dropout on the hidden states.
        cfg.num_labels: number of tags; null reads it from the data.
        backbone: gives `hidden_size`.
    """
    n = _need_labels(cfg.get("num_labels") or num_labels, "token_classification")
    return TokenClassificationHead(backbone.hidden_size, n, float(cfg.dropout))


def build_qa(cfg, backbone, num_labels=None) -> QAHead:
    """Extractive QA span head: start and end logits per token (padding masked out).

    Args:
        backbone: gives `hidden_size`.
    """
    return QAHead(backbone.hidden_size)
