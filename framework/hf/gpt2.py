"""GPT-2 <-> Hugging Face GPT2LMHeadModel / GPT2Model."""
from __future__ import annotations

from framework.hf.mapping import Param, unsupported
from framework.modules.activations import ACTIVATIONS

MODEL_TYPE = "gpt2"
HEADS = {"GPT2Model": None, "GPT2LMHeadModel": "lm"}


def model_node(c: dict) -> dict:
    for flag in ("add_cross_attention", "reorder_and_upcast_attn"):
        if c.get(flag, False):
            raise unsupported(flag, c[flag], "false", "gpt2")
    act = c.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise unsupported("activation_function", act, ", ".join(ACTIVATIONS), "gpt2")
    if c["n_embd"] % c["n_head"]:
        raise unsupported("n_head", c["n_head"], "a divisor of n_embd", "gpt2")
    return {
        "name": "gpt",
        "vocab_size": c["vocab_size"],
        "n_positions": c["n_positions"],
        "n_embd": c["n_embd"],
        "n_layer": c["n_layer"],
        "n_head": c["n_head"],
        "n_inner": c.get("n_inner"),
        "activation_function": act,
        # one `dropout` for embeddings and sublayers: resid_pdrop wins when embd_pdrop differs (inference is unaffected)
        "dropout": c.get("resid_pdrop", 0.1),
        "attention_dropout": c.get("attn_pdrop", 0.1),
        "layer_norm_epsilon": c.get("layer_norm_epsilon", 1e-5),
        "scale_attn_weights": bool(c.get("scale_attn_weights", True)),
        "scale_attn_by_inverse_layer_idx": bool(c.get("scale_attn_by_inverse_layer_idx", False)),
    }


def head_node(arch: str, c: dict, weights: dict, prefix: str) -> dict | None:
    if HEADS[arch] is None:
        return None
    word, lm = weights.get(f"{prefix}wte.weight"), weights.get("lm_head.weight")
    tied = lm is None or (word is not None and lm.equal(word))
    if c.get("tie_word_embeddings", True) is False and lm is not None:
        tied = False
    return {"name": "lm", "tie_word_embeddings": tied, "transform": False, "bias": False, "rescale": False}


def params(m: dict, head: dict | None, prefix: str) -> list[Param]:
    P = lambda ours, hf, t=False: Param(ours, (prefix + hf,), t)
    out = [P("backbone.embeddings.word.weight", "wte.weight"),
           P("backbone.embeddings.position.weight", "wpe.weight")]
    for i in range(m["n_layer"]):
        hf, us = f"h.{i}.", f"backbone.layers.{i}."
        for kind in ("weight", "bias"):
            t = kind == "weight"  # Conv1D weights are [in, out]
            out += [
                P(us + f"attn_norm.{kind}", hf + f"ln_1.{kind}"),
                P(us + f"attn.qkv.{kind}", hf + f"attn.c_attn.{kind}", t),
                P(us + f"attn.out.{kind}", hf + f"attn.c_proj.{kind}", t),
                P(us + f"ffn_norm.{kind}", hf + f"ln_2.{kind}"),
                P(us + f"ffn.up.{kind}", hf + f"mlp.c_fc.{kind}", t),
                P(us + f"ffn.down.{kind}", hf + f"mlp.c_proj.{kind}", t),
            ]
    out += [P("backbone.final_norm.weight", "ln_f.weight"), P("backbone.final_norm.bias", "ln_f.bias")]
    if head is not None and not head["tie_word_embeddings"]:
        out.append(Param("head.proj.weight", ("lm_head.weight",)))
    return out


def ignored(head: dict | None, prefix: str) -> list[str]:
    out = [r"\.attn\.(masked_)?bias$"]  # causal-mask buffers of older checkpoints
    if head is not None and head["tie_word_embeddings"]:
        out.append(r"^lm_head\.weight$")
    return out


def hf_config(m: dict, head: dict | None) -> tuple[str, dict]:
    arch = "GPT2LMHeadModel" if head is not None else "GPT2Model"
    c = {k: m[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner",
                           "activation_function", "layer_norm_epsilon", "scale_attn_weights",
                           "scale_attn_by_inverse_layer_idx")}
    c["resid_pdrop"] = c["embd_pdrop"] = m["dropout"]
    c["attn_pdrop"] = m["attention_dropout"]
    c["reorder_and_upcast_attn"] = False
    c["add_cross_attention"] = False
    c["tie_word_embeddings"] = bool(head["tie_word_embeddings"]) if head is not None else True
    return arch, c


def check_exportable(m: dict, head: dict | None) -> str | None:
    if head is None:
        return None
    if head["name"] != "lm" or head["transform"] or head["bias"] or head["rescale"]:
        return "GPT2LMHeadModel needs a plain `lm` head (no transform, bias or rescale)"
    return None


def prefix_of(arch: str) -> str:
    return "" if arch == "GPT2Model" else "transformer."
