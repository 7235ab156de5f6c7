"""The Objective interface and the small tensor helpers the objectives share."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from framework.errors import ConfigError
from framework.model import ModelOutput

IGNORE_INDEX = -100


@dataclass
class LossOutput(ModelOutput):
    """A ModelOutput whose loss was computed together with it (no logits: see `fusable_lm_head`)."""

    loss: Optional[torch.Tensor] = None


def is_compiled(model) -> bool:
    """trainer.compile: the compiled graph runs whole, so objectives keep to the plain forward."""
    return getattr(model, "_compiled_call_impl", None) is not None


def fusable_lm_head(model):
    """The model's LM head when its projection can be fused with the loss, else None.

    Only while gradients are recorded (training): evaluation needs the logits for its metrics. Not for a
    compiled model (trainer.compile), whose compiled graph runs whole.
    """
    from plugins.heads.lm import LMHead

    head, backbone = getattr(model, "head", None), getattr(model, "backbone", None)
    if not isinstance(head, LMHead) or backbone is None or not torch.is_grad_enabled():
        return None
    if is_compiled(model):
        return None
    return head


def fused_lm_forward(model, inputs: dict, labels: torch.Tensor, label_smoothing: float = 0.0):
    """Backbone, then the LM head's projection fused with the cross-entropy against `labels` ([B, L], aligned
    with the last hidden state); a LossOutput, or None when the model does not allow it."""
    head = fusable_lm_head(model)
    if head is None:
        return None
    out = model.backbone(**inputs)
    loss = head.loss(out.last_hidden_state, labels, label_smoothing)
    return LossOutput(None, out.last_hidden_state, out.hidden_states, loss=loss)


class Objective:
    """`prepare` turns a collated batch into model inputs plus targets (on the device);
    `loss` scores the model output against them."""

    task: str = "lm"
    # keys of the prepared batch that the model's forward takes (the rest are targets or bookkeeping)
    model_inputs: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")
    # share of the target's probability mass spread over the other classes, in the training loss only
    label_smoothing: float = 0.0

    def prepare(self, batch: dict) -> dict:
        return batch

    @abstractmethod  # only a flag (Objective is no ABC): TrainModule refuses an objective that leaves it unset
    def loss(self, output, batch: dict) -> torch.Tensor:
        """The mean loss over the batch: a scalar tensor."""
        raise NotImplementedError(f"{type(self).__name__} does not implement loss(output, batch)")

    def check_labels(self, labels: list[str]) -> None:
        """Called once the labels are known (from the data or the config): settings that need one value per label
        are checked here."""

    def count_targets(self, batch: dict) -> torch.Tensor:
        """How many predictions the loss averages over (weights the loss across batches)."""
        labels = batch.get("labels")
        if labels is None:
            return torch.tensor(batch["input_ids"].size(0), device=batch["input_ids"].device)
        return (labels != IGNORE_INDEX).sum()

    def inputs(self, batch: dict) -> dict:
        return {k: batch[k] for k in self.model_inputs if k in batch and batch[k] is not None}

    def smoothing(self) -> float:
        """The label smoothing of the loss being computed now: `label_smoothing` for the training loss, 0 for an
        evaluation loss (validation, test, `nlpf evaluate`), which is the plain negative log-likelihood:
        perplexity is its exp. Evaluation runs without gradients (Lightning evaluates under no_grad or
        inference_mode; `prepare` is documented to run there too), training with them: the signal that also
        picks the fused LM-head loss (`fusable_lm_head`). Not `model.training`: an eval-mode model (no dropout)
        can still be trained."""
        return float(self.label_smoothing) if torch.is_grad_enabled() else 0.0

    def forward(self, model, batch: dict):
        """Run the model on a prepared batch; an objective may compute less than the full output
        (masked LM runs the head only where there are targets)."""
        return model(**self.inputs(batch))


class VocabularyObjective(Objective):
    """Cross-entropy over the vocabulary against `targets(batch)` (causal LM, seq2seq, span corruption). In
    training the LM head's projection runs fused with the loss: `forward` gives no logits and `loss` returns
    the loss it already computed; elsewhere (evaluation, compiled models) it is computed from the logits.
    `label_smoothing` applies to the training loss only (see `smoothing`)."""

    def targets(self, batch: dict) -> torch.Tensor:
        """Labels aligned with the last hidden state ([B, L], IGNORE_INDEX where nothing is predicted)."""
        return batch["labels"]

    def forward(self, model, batch: dict):
        fused = fused_lm_forward(model, self.inputs(batch), self.targets(batch), self.smoothing())
        return fused if fused is not None else super().forward(model, batch)

    def loss(self, output, batch: dict) -> torch.Tensor:
        if getattr(output, "loss", None) is not None:
            return output.loss
        return cross_entropy(output.logits, self.targets(batch), self.smoothing())


def special_id(tokenizer, name: str, required_by: str) -> int:
    """The id of a special token ('mask', 'pad', 'eos', ...) or a ConfigError saying who needs it."""
    value = getattr(tokenizer, f"{name}_token_id", None) if tokenizer is not None else None
    if value is None and tokenizer is not None:
        value = getattr(tokenizer, f"{name}_id", None)
    if value is None:
        raise ConfigError(
            f"objective '{required_by}' needs a {name} token, but the tokenizer "
            f"'{type(tokenizer).__name__}' has none.",
            hint=f"use a tokenizer with a {name} token (wordpiece, sentencepiece or bpe with special tokens)",
        )
    return int(value)


def vocab_size(tokenizer) -> int:
    size = getattr(tokenizer, "vocab_size", None)
    return int(size if size is not None else len(tokenizer))


def special_ids(tokenizer) -> list[int]:
    ids = getattr(tokenizer, "special_ids", None)
    if ids is None:
        ids = [getattr(tokenizer, f"{n}_id", None) for n in ("pad", "cls", "sep", "mask", "bos", "eos", "unk")]
    return sorted({int(i) for i in ids if i is not None})


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """Token-mean cross-entropy in float32 over every position whose label is not -100."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
                           weight=weight, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing)


def shift_right(labels: torch.Tensor, start_id: int, pad_id: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: start token, then the labels without the last one."""
    shifted = labels.new_full(labels.shape, pad_id)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = start_id
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad_id)



def check_one_per_label(weights, labels: list[str], key: str) -> None:
    """`objective.KEY` (class_weights, pos_weight) holds one weight per label, in the labels' order."""
    if weights is not None and len(weights) != len(labels):
        raise ConfigError(
            f"objective.{key} has {len(weights)} weights, but there are {len(labels)} labels ({', '.join(map(str, labels))})",
            hint=f"give one weight per label, in this order: objective.{key}=[{','.join('1' for _ in labels)}], "
            f"or objective.{key}=null for all 1")
