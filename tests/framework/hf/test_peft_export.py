"""`nlpf export peft`: a LoRA run's adapters, loaded by PEFT onto the Hugging Face model the run started from,
compute what nlpf's merged model computes."""
import json

import pytest
import torch
from safetensors.torch import load_file

from framework import cli
from framework.checkpoint import load_checkpoint, save_checkpoint
from framework.errors import NlpfError
from framework.hf import export_hf, import_hf
from framework.hf.peft import export_peft
from framework.training.lora import adapter_state, apply_lora, fully_trained, merged_state

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

IDS = torch.tensor([[5, 9, 3, 7, 1, 2], [4, 4, 8, 2, 6, 3]])


def bert_classifier():
    return transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, num_labels=3)), transformers.AutoModelForSequenceClassification, {}


def gpt2_lm():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)), \
        transformers.AutoModelForCausalLM, {}


def t5_lm(**kw):
    return transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=64, d_model=16, d_kv=4, d_ff=24, num_layers=2, num_heads=4, **kw)), \
        transformers.AutoModelForSeq2SeqLM, {"decoder_input_ids": IDS[:, :4]}


# family -> (HF model, its Auto class, extra inputs), nlpf LoRA targets (fused layers split in the export)
CASES = {
    "bert": (bert_classifier, ["qkv", "out", "ffn.up"]),
    "gpt2": (gpt2_lm, ["qkv", "out", "ffn.down"]),
    "t5": (t5_lm, ["qkv", "q", "kv", "out"]),
    "t5-v1_1": (lambda: t5_lm(feed_forward_proj="gated-gelu", tie_word_embeddings=False), ["qkv", "ffn.up"]),
}


def lora_run(tmp_path, family, targets, trainable=()):
    """An imported HF model, adapted and moved off its initial state as training would, saved as `nlpf train`
    saves a LoRA checkpoint. Returns (the HF model, its Auto class, extra inputs, checkpoint)."""
    from omegaconf import OmegaConf

    make, _ = CASES[family]
    torch.manual_seed(0)
    hf, auto, extra = make()
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "imported")
    model, cfg = load_checkpoint(tmp_path / "imported")
    lora = OmegaConf.create({"r": 2, "alpha": 6.0, "targets": targets, "trainable": list(trainable)})
    apply_lora(model, lora)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:  # adapters and whatever trains whole: no longer what was imported
                p.add_(torch.randn_like(p) * 0.3)
    cfg.init_from, cfg.lora = str(tmp_path / "imported"), lora
    meta = {"lora": {"r": 2, "alpha": 6.0, "trained": fully_trained(model)}}
    save_checkpoint(tmp_path / "run", model, cfg, None, meta=meta,
                    state=merged_state(model), adapters=adapter_state(model))
    return hf, auto, extra, tmp_path / "run"


def logits(model, extra):
    with torch.no_grad():
        return model.eval()(input_ids=IDS, **extra).logits


@pytest.mark.parametrize("family", CASES)
def test_peft_on_the_base_model_computes_the_merged_model(tmp_path, family):
    hf, auto, extra, ckpt = lora_run(tmp_path, family, CASES[family][1])
    export_peft(ckpt, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str((tmp_path / "hf").resolve())  # what init_from was imported from

    adapted = peft.PeftModel.from_pretrained(auto.from_pretrained(tmp_path / "hf"), tmp_path / "adapter")
    export_hf(ckpt, tmp_path / "merged")
    merged = auto.from_pretrained(tmp_path / "merged")
    want = logits(merged, extra)
    assert not torch.allclose(logits(hf, extra), want, atol=1e-3)  # the adapters change the model
    torch.testing.assert_close(logits(adapted, extra), want, atol=1e-5, rtol=1e-4)


def test_fused_layers_become_separate_peft_modules_with_one_shared_a(tmp_path):
    _, _, _, ckpt = lora_run(tmp_path, "t5", ["qkv", "kv"])
    export_peft(ckpt, tmp_path / "adapter")
    ours = load_file(ckpt / "adapters.safetensors")
    theirs = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    layer = "base_model.model.encoder.block.0.layer.0.SelfAttention"
    a, b = ours["backbone.encoder.layers.0.attn.qkv.lora_a"], ours["backbone.encoder.layers.0.attn.qkv.lora_b"]
    for i, name in enumerate("qkv"):
        assert torch.equal(theirs[f"{layer}.{name}.lora_A.weight"], a)
        assert torch.equal(theirs[f"{layer}.{name}.lora_B.weight"], b.chunk(3)[i])
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert "decoder.block.1.layer.1.EncDecAttention.v" in config["target_modules"]
    assert config["task_type"] == "SEQ_2_SEQ_LM" and config["r"] == 2 and config["lora_alpha"] == 6.0


def test_parameters_trained_whole_are_modules_to_save(tmp_path):
    hf, auto, extra, ckpt = lora_run(tmp_path, "bert", ["qkv"], trainable=["backbone.layers.1.ffn_norm"])
    export_peft(ckpt, tmp_path / "adapter", base="my-org/tiny-bert")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["modules_to_save"] == ["bert.encoder.layer.1.output.LayerNorm", "bert.pooler.dense", "classifier"]
    assert config["base_model_name_or_path"] == "my-org/tiny-bert" and config["task_type"] == "SEQ_CLS"
    adapted = peft.PeftModel.from_pretrained(auto.from_pretrained(tmp_path / "hf"), tmp_path / "adapter")
    export_hf(ckpt, tmp_path / "merged")
    torch.testing.assert_close(logits(adapted, extra), logits(auto.from_pretrained(tmp_path / "merged"), extra),
                               atol=1e-5, rtol=1e-4)


def test_a_layer_both_adapted_and_trained_whole_is_refused(tmp_path):
    _, _, _, ckpt = lora_run(tmp_path, "gpt2", ["qkv"], trainable=["backbone.layers.0.attn.qkv.bias"])
    with pytest.raises(NlpfError, match="PEFT cannot both adapt and fully train transformer.h.0.attn.c_attn"):
        export_peft(ckpt, tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists()


def test_a_checkpoint_without_adapters_is_refused_with_the_whole_model_export_named(tmp_path):
    make, _ = CASES["gpt2"]
    make()[0].save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "imported")
    with pytest.raises(NlpfError, match="holds no LoRA adapters") as err:
        export_peft(tmp_path / "imported", tmp_path / "adapter")
    assert "nlpf export hf" in err.value.hint
    assert not (tmp_path / "adapter").exists()


def test_the_cli_exports_a_lora_run_and_names_bad_options(tmp_path, capsys):
    from tests.framework.training.test_train_e2e import TINY

    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(transformers.BertConfig(  # room for the byte tokenizer's ids
        vocab_size=300, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32))
    auto = transformers.AutoModelForSequenceClassification
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "imported")
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"{'good' if i % 2 else 'bad'} film {i},{'pos' if i % 2 else 'neg'}\n"
                                             for i in range(40)))
    run = tmp_path / "run"
    assert cli.main(["train", f"run_dir={run}", *TINY, f"init_from={tmp_path / 'imported'}", "tokenizer=byte",
                     "tokenizer.template=cls_sep", "head=sequence_classification", "head.pooler=true",
                     "objective=sequence_classification", "data=csv", f"data.path={data}", "lora.r=4",
                     "optim.lr=1e-2", "trainer.max_steps=4"]) == 0
    assert cli.main(["export", "peft", str(run), str(tmp_path / "adapter")]) == 0
    assert "exported" in capsys.readouterr().out
    adapted = peft.PeftModel.from_pretrained(auto.from_pretrained(tmp_path / "hf"), tmp_path / "adapter")
    model, _ = load_checkpoint(run / "checkpoints" / "last")
    with torch.no_grad():
        ours = model.eval()(input_ids=IDS, attention_mask=torch.ones_like(IDS)).logits
    torch.testing.assert_close(logits(adapted, {}), ours, atol=1e-5, rtol=1e-4)

    assert cli.main(["export", "peft", str(run), str(tmp_path / "a2"), "bsae=x"]) != 0
    err = capsys.readouterr().err
    assert "unknown option 'bsae'" in err and "base" in err
    assert cli.main(["export", "pft", str(run), str(tmp_path / "a3")]) != 0
    assert "Did you mean 'peft'" in capsys.readouterr().err
