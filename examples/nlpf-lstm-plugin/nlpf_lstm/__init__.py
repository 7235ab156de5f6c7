"""nlpf-lstm-plugin: LSTM models and friends for nlpf, one component of each kind.

nlpf imports this module for `nlpf list`, so it stays cheap: it imports the torch-free config
dataclasses only and names every builder as a "module:function" string.
"""
from pathlib import Path

from framework.hookspecs import hookimpl

from nlpf_lstm import config as c

# the nlpf plugin API this package was written for (framework.hookspecs.API_VERSION)
NLPF_API_VERSION = 1


@hookimpl
def nlpf_api_version():
    return NLPF_API_VERSION


@hookimpl
def nlpf_register(registries):
    registries.architecture.register(
        "lstm_lm", c.LSTMLanguageModelConfig, "nlpf_lstm.lstm:build_lm", kind="decoder",
        description="Left-to-right LSTM language model (stacked LSTMs, LayerNorm); the cache is the LSTM state.")
    registries.architecture.register(
        "lstm_encoder", c.LSTMEncoderConfig, "nlpf_lstm.lstm:build_encoder", kind="encoder",
        description="Bidirectional LSTM encoder over the real (unpadded) tokens.")
    registries.tokenizer.register(
        "word_level", c.WordTokenizerConfig, "nlpf_lstm.words:build",
        description="Words and punctuation; vocabulary trained on the corpus (most frequent words).")
    registries.objective.register(
        "word_dropout_lm", c.WordDropoutLMConfig, "nlpf_lstm.objective:build", accepts=["decoder"],
        description="Causal LM with input words replaced by <unk> at random while training.")
    registries.head.register(
        "attentive_pooling", c.AttentivePoolingHeadConfig, "nlpf_lstm.head:build", accepts=["encoder", "decoder"],
        description="Sequence classification from an attention-weighted average of the hidden states.")
    registries.data.register(
        "toy_reviews", c.ToyReviewsConfig, "nlpf_lstm.reviews:build",
        description="Synthetic one-sentence reviews labelled positive/negative (no download).")


@hookimpl
def nlpf_config_dirs():
    return [str(Path(__file__).parent / "conf")]
