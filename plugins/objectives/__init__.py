"""Training objectives: what a batch becomes before the model sees it, and the loss on the output."""
from __future__ import annotations

from pathlib import Path

from framework.hookspecs import hookimpl
from plugins.objectives import config as c

_M = "plugins.objectives"


@hookimpl
def nlpf_register(registries):
    reg = registries.objective.register
    reg("masked_lm", c.MaskedLMConfig, f"{_M}.masked_lm:build", accepts=["encoder"],
        description="BERT masked LM: 80/10/10 replacement, optional whole-word masking.")
    reg("causal_lm", c.CausalLMConfig, f"{_M}.causal_lm:build", accepts=["decoder"],
        description="Next-token prediction.")
    reg("span_corruption", c.SpanCorruptionConfig, f"{_M}.span_corruption:build", accepts=["encoder-decoder"],
        description="T5 span corruption: noise spans replaced by sentinels, the decoder predicts them.")
    reg("seq2seq", c.Seq2SeqConfig, f"{_M}.seq2seq:build", accepts=["encoder-decoder"],
        description="Sequence-to-sequence cross-entropy (translation, summarisation).")
    reg("sequence_classification", c.SequenceClassificationConfig, f"{_M}.classification:build_sequence",
        accepts=["encoder", "decoder"], description="Cross-entropy over one label per sequence.")
    reg("sequence_regression", c.SequenceRegressionConfig, f"{_M}.regression:build", accepts=["encoder", "decoder"],
        description="Mean squared error against one number per sequence (ratings, similarity scores).")
    reg("multi_label_classification", c.MultiLabelClassificationConfig, f"{_M}.multi_label:build",
        accepts=["encoder", "decoder"],
        description="Binary cross-entropy per label: any number of labels per sequence (multi-hot targets).")
    reg("token_classification", c.TokenClassificationConfig, f"{_M}.classification:build_token",
        accepts=["encoder"], description="Cross-entropy over one label per word (first sub-token).")
    reg("qa", c.QAConfig, f"{_M}.qa:build", accepts=["encoder"],
        description="Extractive question answering: start/end span loss.")


@hookimpl
def nlpf_config_dirs():
    return []
