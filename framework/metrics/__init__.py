"""Evaluation metrics per task, accumulated on the device (no per-step host syncs) and reduced across
processes by torchmetrics."""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, PearsonCorrCoef, SpearmanCorrCoef
from torchmetrics.classification import (BinaryAccuracy, BinaryF1Score, MulticlassAccuracy, MulticlassF1Score,
                                         MultilabelExactMatch, MultilabelF1Score)

from framework.metrics.entity import EntityF1
from framework.metrics.qa import SpanMatch, best_spans
from framework.metrics.text import bleu, chrf

IGNORE_INDEX = -100
THRESHOLD = 0.5  # multi-label: a label is predicted when its sigmoid is above this

__all__ = ["EntityF1", "SpanMatch", "best_spans", "bleu", "chrf", "TaskMetrics", "build_task_metrics"]


class TaskMetrics(nn.Module):
    """Loss plus the task's metrics. `update(logits, batch, loss, n_targets)`; `compute()` -> {name: float}."""

    def __init__(self, task: str, labels: list[str] | None = None, max_answer_length: int = 30):
        super().__init__()
        self.task, self.labels = task, list(labels or [])
        self.loss = MeanMetric()
        n = len(self.labels)
        if task == "classification" and n:
            self.accuracy = MulticlassAccuracy(n, average="micro")
            self.macro_f1 = MulticlassF1Score(n, average="macro")
            self.class_f1 = MulticlassF1Score(n, average="none")
        elif task == "regression":
            self.mse, self.mae = MeanSquaredError(), MeanAbsoluteError()
            self.pearson = PearsonCorrCoef()
            with warnings.catch_warnings():  # it keeps every prediction, as a rank correlation must
                warnings.filterwarnings("ignore", message=".*will save all targets and predictions")
                self.spearman = SpearmanCorrCoef()
        elif task == "multilabel" and n == 1:  # torchmetrics' multilabel metrics need two labels: one is binary
            self.micro_f1, self.macro_f1 = BinaryF1Score(threshold=THRESHOLD), BinaryF1Score(threshold=THRESHOLD)
            self.subset_accuracy = BinaryAccuracy(threshold=THRESHOLD)
        elif task == "multilabel" and n:
            self.micro_f1 = MultilabelF1Score(n, threshold=THRESHOLD, average="micro")
            self.macro_f1 = MultilabelF1Score(n, threshold=THRESHOLD, average="macro")
            self.subset_accuracy = MultilabelExactMatch(n, threshold=THRESHOLD)  # the whole label set right
        elif task == "token_classification" and n:
            self.accuracy = MulticlassAccuracy(n, average="micro", ignore_index=IGNORE_INDEX)
            self.entity = EntityF1(self.labels)
        elif task == "qa":
            self.spans = SpanMatch()
            self.max_answer_length = max_answer_length

    @torch.no_grad()
    def update(self, logits: torch.Tensor, batch: dict, loss: torch.Tensor, n_targets: torch.Tensor | None = None):
        weight = n_targets if n_targets is not None else torch.ones((), device=loss.device)
        self.loss.update(loss.detach().float(), weight)
        if self.task == "classification" and self.labels:
            preds = logits.argmax(-1)
            for m in (self.accuracy, self.macro_f1, self.class_f1):
                m.update(preds, batch["labels"])
        elif self.task == "regression":
            preds = logits.reshape(-1).float()
            for m in (self.mse, self.mae, self.pearson, self.spearman):
                m.update(preds, batch["labels"].float())
        elif self.task == "multilabel" and self.labels:
            # probabilities, not logits: torchmetrics would take logits that all fall in [0, 1] for probabilities
            probs, target = logits.float().sigmoid(), batch["labels"].long()
            if len(self.labels) == 1:
                probs, target = probs.reshape(-1), target.reshape(-1)
            for m in (self.micro_f1, self.macro_f1, self.subset_accuracy):
                m.update(probs, target)
        elif self.task == "token_classification" and self.labels:
            preds = logits.argmax(-1)
            self.accuracy.update(preds, batch["labels"])
            self.entity.update(preds, batch["labels"])
        elif self.task == "qa":
            start, end = best_spans(logits, self.max_answer_length)
            self.spans.update(start, end, batch["start_positions"], batch["end_positions"])

    def compute(self) -> dict[str, float]:
        loss = self.loss.compute()
        out = {"loss": loss}
        if self.task in ("lm", "seq2seq"):
            out["perplexity"] = torch.exp(loss.clamp_max(50))
        if self.task == "classification" and self.labels:
            out["accuracy"] = self.accuracy.compute()
            out["macro_f1"] = self.macro_f1.compute()
            if len(self.labels) == 2:  # binary tasks: the F1 of the positive (second) class, e.g. f1_spam
                out[f"f1_{self.labels[1]}"] = self.class_f1.compute()[1]
        elif self.task == "regression":
            out.update(mse=self.mse.compute(), mae=self.mae.compute(), pearson=self.pearson.compute(),
                       spearman=self.spearman.compute())
        elif self.task == "multilabel" and self.labels:
            out.update(micro_f1=self.micro_f1.compute(), macro_f1=self.macro_f1.compute(),
                       subset_accuracy=self.subset_accuracy.compute())
        elif self.task == "token_classification" and self.labels:
            out["accuracy"] = self.accuracy.compute()
            out.update(self.entity.compute())
        elif self.task == "qa":
            out.update(self.spans.compute())
        return {k: float(v) for k, v in out.items()}

    def reset(self):
        for m in self.children():
            m.reset()


def build_task_metrics(task: str, labels: list[str] | None = None, **kwargs) -> TaskMetrics:
    return TaskMetrics(task, labels, **kwargs)
