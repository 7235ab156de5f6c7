"""Task heads: what turns a backbone's hidden states into logits. One `register` call per head."""
from framework.hookspecs import hookimpl
from plugins.heads import config as c

_M = "plugins.heads"
ALL_KINDS = ["encoder", "decoder", "encoder-decoder"]


@hookimpl
def nlpf_register(registries):
    reg = registries.head.register
    reg("lm", c.LMHeadConfig, f"{_M}.lm:build", accepts=ALL_KINDS,
        description="Vocabulary logits; tied or untied, optional BERT transform and bias, optional T5 rescale.")
    reg("sequence_classification", c.SequenceClassificationHeadConfig, f"{_M}.classification:build_sequence",
        accepts=["encoder", "decoder"],
        description="One label per sequence from a pooled vector (cls, mean or last token).")
    reg("token_classification", c.TokenClassificationHeadConfig, f"{_M}.classification:build_token",
        accepts=["encoder", "decoder"], description="One label per token.")
    reg("qa", c.QAHeadConfig, f"{_M}.classification:build_qa", accepts=["encoder"],
        description="Extractive QA: start/end logits per token.")
