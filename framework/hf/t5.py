"""T5 <-> Hugging Face T5ForConditionalGeneration / T5Model (original T5 and v1.1)."""
from __future__ import annotations

from framework.hf.mapping import Param, unsupported
from framework.modules.activations import ACTIVATIONS

MODEL_TYPE = "t5"
HEADS = {"T5Model": None, "T5ForConditionalGeneration": "lm"}


def model_node(c: dict) -> dict:
    proj = c.get("feed_forward_proj", "relu")
    parts = proj.split("-")
    act = "gelu_new" if proj == "gated-gelu" else parts[-1]
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated") or act not in ACTIVATIONS:
        raise unsupported("feed_forward_proj", proj, "ACT or gated-ACT with ACT in " + ", ".join(ACTIVATIONS), "t5")
    if not c.get("is_encoder_decoder", True) or c.get("is_decoder", False):
        raise unsupported("is_encoder_decoder", c.get("is_encoder_decoder"), "true (the full encoder-decoder)", "t5")
    return {
        "name": "t5",
        "vocab_size": c["vocab_size"],
        "d_model": c["d_model"],
        "d_kv": c["d_kv"],
        "d_ff": c["d_ff"],
        "num_layers": c["num_layers"],
        "num_decoder_layers": c.get("num_decoder_layers") or c["num_layers"],
        "num_heads": c["num_heads"],
        "relative_attention_num_buckets": c.get("relative_attention_num_buckets", 32),
        "relative_attention_max_distance": c.get("relative_attention_max_distance", 128),
        # T5Attention drops attention weights with dropout_rate too
        "dropout": c.get("dropout_rate", 0.1),
        "attention_dropout": c.get("dropout_rate", 0.1),
        "layer_norm_epsilon": c.get("layer_norm_epsilon", 1e-6),
        "feed_forward_proj": proj,
        "decoder_start_token_id": c.get("decoder_start_token_id") if c.get("decoder_start_token_id") is not None
        else (c.get("pad_token_id") or 0),
    }


def head_node(arch: str, c: dict, weights: dict, prefix: str) -> dict | None:
    if HEADS[arch] is None:
        return None
    shared, lm = weights.get("shared.weight"), weights.get("lm_head.weight")
    tied = lm is None or (shared is not None and lm.equal(shared))
    # transformers < 5 writes tie_word_embeddings (false for v1.1, meaning untied and unscaled);
    # transformers 5 always ties in config and records the scaling as scale_decoder_outputs
    rescale = c.get("scale_decoder_outputs", c.get("tie_word_embeddings", True) is not False)
    return {"name": "lm", "tie_word_embeddings": tied, "transform": False, "bias": False, "rescale": bool(rescale)}


def _ffn(m: dict, hf: str, us: str) -> list[Param]:
    gated = m["feed_forward_proj"].startswith("gated-")
    up = (hf + "DenseReluDense.wi_0.weight", hf + "DenseReluDense.wi_1.weight") if gated else (hf + "DenseReluDense.wi.weight",)
    return [Param(us + "ffn.up.weight", up), Param(us + "ffn.down.weight", (hf + "DenseReluDense.wo.weight",)),
            Param(us + "ffn_norm.weight", (hf + "layer_norm.weight",))]


def params(m: dict, head: dict | None, prefix: str) -> list[Param]:
    P = lambda ours, *hf: Param(ours, tuple(hf))
    out = [P("backbone.shared.weight", "shared.weight")]
    for stack, n in (("encoder", m["num_layers"]), ("decoder", m["num_decoder_layers"] or m["num_layers"])):
        out.append(P(f"backbone.{stack}.relative_bias.table.weight",
                     f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"))
        out.append(P(f"backbone.{stack}.final_norm.weight", f"{stack}.final_layer_norm.weight"))
        for i in range(n):
            hf, us = f"{stack}.block.{i}.layer.", f"backbone.{stack}.layers.{i}."
            out += [P(us + "attn.qkv.weight", *(hf + f"0.SelfAttention.{x}.weight" for x in "qkv")),
                    P(us + "attn.out.weight", hf + "0.SelfAttention.o.weight"),
                    P(us + "attn_norm.weight", hf + "0.layer_norm.weight")]
            if stack == "decoder":
                out += [P(us + "cross_attn.q.weight", hf + "1.EncDecAttention.q.weight"),
                        P(us + "cross_attn.kv.weight", hf + "1.EncDecAttention.k.weight", hf + "1.EncDecAttention.v.weight"),
                        P(us + "cross_attn.out.weight", hf + "1.EncDecAttention.o.weight"),
                        P(us + "cross_norm.weight", hf + "1.layer_norm.weight")]
                out += _ffn(m, hf + "2.", us)
            else:
                out += _ffn(m, hf + "1.", us)
    if head is not None and not head["tie_word_embeddings"]:
        out.append(P("head.proj.weight", "lm_head.weight"))
    return out


def ignored(head: dict | None, prefix: str) -> list[str]:
    out = [r"^(encoder|decoder)\.embed_tokens\.weight$", r"EncDecAttention\.relative_attention_bias\.weight$"]
    if head is not None and head["tie_word_embeddings"]:
        out.append(r"^lm_head\.weight$")
    return out


def hf_config(m: dict, head: dict | None) -> tuple[str, dict]:
    arch = "T5ForConditionalGeneration" if head is not None else "T5Model"
    c = {k: m[k] for k in ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
                           "relative_attention_num_buckets", "relative_attention_max_distance",
                           "layer_norm_epsilon", "feed_forward_proj", "decoder_start_token_id")}
    c["num_decoder_layers"] = m["num_decoder_layers"] or m["num_layers"]  # null in nlpf: as many as the encoder
    c["dropout_rate"] = m["dropout"]  # T5Config has one rate; a different attention_dropout is not kept
    c["is_encoder_decoder"] = True
    if head is not None:
        # readable by transformers 4 (tie_word_embeddings) and 5 (scale_decoder_outputs)
        c["tie_word_embeddings"] = bool(head["tie_word_embeddings"])
        c["scale_decoder_outputs"] = bool(head["rescale"])
    return arch, c


def check_exportable(m: dict, head: dict | None) -> str | None:
    if head is None:
        return None
    if head["name"] != "lm" or head["transform"] or head["bias"]:
        return "T5ForConditionalGeneration needs an `lm` head without transform or bias"
    return None


def prefix_of(arch: str) -> str:
    return ""
