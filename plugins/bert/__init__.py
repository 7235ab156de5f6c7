"""BERT: a bidirectional post-norm encoder with word, position and segment embeddings."""
from framework.hookspecs import hookimpl
from plugins.bert.config import BertConfig


@hookimpl
def nlpf_register(registries):
    registries.architecture.register(
        "bert", BertConfig, "plugins.bert.model:build", kind="encoder",
        description="BERT encoder (post-norm, learned positions, segment embeddings).",
    )
