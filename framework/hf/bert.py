"""BERT <-> Hugging Face BertModel / BertFor{MaskedLM,SequenceClassification,TokenClassification,QuestionAnswering}."""
from __future__ import annotations

from framework.hf.mapping import Param, unsupported
from framework.modules.activations import ACTIVATIONS

MODEL_TYPE = "bert"
# HF architecture -> our head name (None: backbone only)
HEADS = {
    "BertModel": None,
    "BertForMaskedLM": "lm",
    "BertForSequenceClassification": "sequence_classification",
    "BertForTokenClassification": "token_classification",
    "BertForQuestionAnswering": "qa",
}


def model_node(c: dict) -> dict:
    """Our `model` node from config.json; any math-changing value we do not implement is an error."""
    if c.get("position_embedding_type", "absolute") != "absolute":
        raise unsupported("position_embedding_type", c["position_embedding_type"], "absolute", "bert")
    for flag in ("is_decoder", "add_cross_attention"):
        if c.get(flag, False):
            raise unsupported(flag, c[flag], "false (BERT as an encoder)", "bert")
    act = c.get("hidden_act", "gelu")
    if act not in ACTIVATIONS:
        raise unsupported("hidden_act", act, ", ".join(ACTIVATIONS), "bert")
    if c["hidden_size"] % c["num_attention_heads"]:
        raise unsupported("num_attention_heads", c["num_attention_heads"], "a divisor of hidden_size", "bert")
    return {
        "name": "bert",
        "vocab_size": c["vocab_size"],
        "hidden_size": c["hidden_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "intermediate_size": c["intermediate_size"],
        "hidden_act": act,
        "dropout": c.get("hidden_dropout_prob", 0.1),
        "attention_dropout": c.get("attention_probs_dropout_prob", 0.1),
        "max_position_embeddings": c.get("max_position_embeddings", 512),
        "type_vocab_size": c.get("type_vocab_size", 2),
        "layer_norm_eps": c.get("layer_norm_eps", 1e-12),
    }


def head_node(arch: str, c: dict, weights: dict, prefix: str) -> dict | None:
    name = HEADS[arch]
    dropout = c.get("classifier_dropout")
    dropout = c.get("hidden_dropout_prob", 0.1) if dropout is None else dropout
    num_labels = len(c.get("id2label") or {}) or c.get("num_labels") or 2
    if name == "lm":
        word = weights.get(f"{prefix}embeddings.word_embeddings.weight")
        decoder = weights.get("cls.predictions.decoder.weight")
        tied = decoder is None or (word is not None and decoder.equal(word))
        if c.get("tie_word_embeddings", True) is False and decoder is not None:
            tied = False
        return {"name": "lm", "tie_word_embeddings": tied, "transform": True,
                "transform_act": c.get("hidden_act", "gelu"), "layer_norm_eps": c.get("layer_norm_eps", 1e-12),
                "bias": True, "rescale": False}
    if name == "sequence_classification":
        return {"name": name, "pooling": "cls", "pooler": True, "dropout": dropout, "num_labels": num_labels}
    if name == "token_classification":
        return {"name": name, "dropout": dropout, "num_labels": num_labels}
    if name == "qa":
        if num_labels != 2:
            raise unsupported("num_labels", num_labels, "2 for BertForQuestionAnswering (start and end)", "bert")
        return {"name": "qa"}
    return None


def params(m: dict, head: dict | None, prefix: str) -> list[Param]:
    """prefix: "bert." inside BertFor* models, "" for a bare BertModel."""
    P = lambda ours, *hf, t=False: Param(ours, tuple(prefix + h if not h.startswith("!") else h[1:] for h in hf), t)
    out = [
        P("backbone.embeddings.word.weight", "embeddings.word_embeddings.weight"),
        P("backbone.embeddings.position.weight", "embeddings.position_embeddings.weight"),
        P("backbone.embeddings.norm.weight", "embeddings.LayerNorm.weight"),
        P("backbone.embeddings.norm.bias", "embeddings.LayerNorm.bias"),
    ]
    if m["type_vocab_size"]:
        out.append(P("backbone.embeddings.token_type.weight", "embeddings.token_type_embeddings.weight"))
    for i in range(m["num_hidden_layers"]):
        hf, us = f"encoder.layer.{i}.", f"backbone.layers.{i}."
        for kind in ("weight", "bias"):
            out += [
                P(us + f"attn.qkv.{kind}", *(hf + f"attention.self.{x}.{kind}" for x in ("query", "key", "value"))),
                P(us + f"attn.out.{kind}", hf + f"attention.output.dense.{kind}"),
                P(us + f"attn_norm.{kind}", hf + f"attention.output.LayerNorm.{kind}"),
                P(us + f"ffn.up.{kind}", hf + f"intermediate.dense.{kind}"),
                P(us + f"ffn.down.{kind}", hf + f"output.dense.{kind}"),
                P(us + f"ffn_norm.{kind}", hf + f"output.LayerNorm.{kind}"),
            ]
    name = head["name"] if head else None
    for kind in ("weight", "bias"):
        if name == "lm":
            out += [P(f"head.dense.{kind}", f"!cls.predictions.transform.dense.{kind}"),
                    P(f"head.norm.{kind}", f"!cls.predictions.transform.LayerNorm.{kind}")]
        elif name == "sequence_classification":
            out += [P(f"head.dense.{kind}", f"pooler.dense.{kind}"), P(f"head.classifier.{kind}", f"!classifier.{kind}")]
        elif name == "token_classification":
            out.append(P(f"head.classifier.{kind}", f"!classifier.{kind}"))
        elif name == "qa":
            out.append(P(f"head.qa_outputs.{kind}", f"!qa_outputs.{kind}"))
    if name == "lm":
        out.append(P("head.bias", "!cls.predictions.bias"))
        if not head["tie_word_embeddings"]:
            out.append(P("head.proj.weight", "!cls.predictions.decoder.weight"))
    return out


def ignored(head: dict | None, prefix: str) -> list[str]:
    out = [r"position_ids$", r"^cls\.predictions\.decoder\.bias$"]  # decoder.bias is cls.predictions.bias
    if head is None or head["name"] != "sequence_classification":
        out.append(r"(^|\.)pooler\.dense\.")  # BertModel's pooler: not part of the hidden states or our heads
    if head is not None and head["name"] == "lm":
        out.append(r"^cls\.seq_relationship\.")  # pre-training checkpoints: the NSP head is not part of the MLM
        if head["tie_word_embeddings"]:
            out.append(r"^cls\.predictions\.decoder\.weight$")
    return out


def hf_config(m: dict, head: dict | None) -> tuple[str, dict]:
    """(architecture, config.json fields) for export."""
    name = head["name"] if head else None
    arch = {v: k for k, v in HEADS.items()}[name]
    c = {k: m[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                           "intermediate_size", "hidden_act", "max_position_embeddings", "type_vocab_size",
                           "layer_norm_eps")}
    c["hidden_dropout_prob"], c["attention_probs_dropout_prob"] = m["dropout"], m["attention_dropout"]
    c["position_embedding_type"] = "absolute"
    if name == "lm":
        c["tie_word_embeddings"] = bool(head["tie_word_embeddings"])
    if name in ("sequence_classification", "token_classification"):
        c["classifier_dropout"] = head["dropout"]
    return arch, c


def check_exportable(m: dict, head: dict | None) -> str | None:
    """None when BertFor* can express this model, else the reason."""
    if head is None:
        return None
    n = head["name"]
    if n not in HEADS.values():
        return f"head '{n}' has no BertFor* counterpart"
    if n == "lm" and (not head["transform"] or not head["bias"] or head["rescale"]
                      or head["transform_act"] != m["hidden_act"] or head["layer_norm_eps"] != m["layer_norm_eps"]):
        return "BertForMaskedLM needs head=bert_mlm (transform with the model's hidden_act and eps, bias, no rescale)"
    if n == "sequence_classification" and (not head["pooler"] or head["pooling"] not in ("cls", "auto")):
        return "BertForSequenceClassification needs head.pooler=true and head.pooling=cls"
    return None


def prefix_of(arch: str) -> str:
    return "" if arch == "BertModel" else "bert."
