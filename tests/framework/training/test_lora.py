"""LoRA fine-tuning: which parameters train, what the checkpoints hold, and the mistakes it names."""
import pytest
import torch
from omegaconf import OmegaConf

from framework.config import load
from framework.errors import ConfigError
from framework.model import build_model
from framework.modules.lora import LoRALinear
from framework.training.lora import apply_lora, merge_lora, merged_state


def model(name="bert_tiny", head="sequence_classification", objective="sequence_classification"):
    cfg = load([f"model={name}", f"head={head}", f"objective={objective}"])
    torch.manual_seed(0)
    return build_model(cfg, vocab_size=300, num_labels=2)


def lora(**kw):
    return OmegaConf.create({"r": 4, "alpha": 8.0, "targets": ["qkv", "out"], "trainable": [], **kw})


def trained(m):
    return sorted({n.rsplit(".", 1)[-1] if "lora_" in n else n for n, p in m.named_parameters() if p.requires_grad})


def test_adapters_on_the_targets_the_head_trained_the_rest_of_the_backbone_frozen():
    m = model()
    n_trainable, total = apply_lora(m, lora())
    wrapped = [n for n, x in m.named_modules() if isinstance(x, LoRALinear)]
    assert wrapped and all(n.endswith(("attn.qkv", "attn.out")) for n in wrapped)
    assert trained(m) == ["head.classifier.bias", "head.classifier.weight", "lora_a", "lora_b"]
    assert n_trainable == sum(p.numel() for p in m.parameters() if p.requires_grad) and n_trainable < total / 10


def test_a_name_ending_picks_layers_and_trainable_keeps_more_of_the_backbone():
    m = model()
    apply_lora(m, lora(targets=["ffn.up"], trainable=["backbone.embeddings.norm"]))
    assert all(n.endswith("ffn.up") for n, x in m.named_modules() if isinstance(x, LoRALinear))
    assert "backbone.embeddings.norm.weight" in trained(m)


def test_a_tied_lm_head_stays_frozen_with_the_embeddings():
    m = model("gpt_tiny", "lm", "causal_lm")
    apply_lora(m, lora())
    assert not m.backbone.embeddings.word.weight.requires_grad


def test_the_printed_count_is_what_trains_after_optim_freeze(capsys):
    """optim.freeze applies after LoRA (in TrainModule): the count printed must not include what it freezes."""
    from types import SimpleNamespace

    from framework.training.commands import _apply_lora

    cfg = load(["model=bert_tiny", "head=sequence_classification", "objective=sequence_classification", "lora.r=4",
                "optim.freeze=[head,backbone.layers.0]"])
    m = model()
    _apply_lora(SimpleNamespace(model=m, cfg=cfg))
    layer1 = sum(p.numel() for n, p in m.named_parameters() if n.startswith("backbone.layers.1.") and "lora_" in n)
    assert f"training {layer1:,} of " in capsys.readouterr().out  # layer 1's adapters: 1,536, not 6,402


@pytest.mark.parametrize("kw, message", [
    ({"targets": ["qvk"]}, "no linear layer of the backbone is named 'qvk'. Did you mean 'qkv'"),
    ({"trainable": ["backbone.embedings"]}, "no parameter name starts with 'backbone.embedings'"),
])
def test_names_that_match_nothing_are_errors(kw, message):
    with pytest.raises(ConfigError, match=message):
        apply_lora(model(), lora(**kw))


def test_merging_keeps_what_the_model_computes_and_leaves_plain_linear_layers():
    m = model()
    apply_lora(m, lora())
    with torch.no_grad():
        for x in m.modules():
            if isinstance(x, LoRALinear):
                x.lora_b.normal_(0, 0.1)
    m.eval()
    ids = torch.randint(0, 300, (2, 7))
    before = m(input_ids=ids).logits
    state = merged_state(m)  # what a checkpoint holds
    assert any(isinstance(x, LoRALinear) for x in m.modules())  # the trained model keeps its adapters
    plain = model()
    assert set(state) == set(plain.state_dict()) and not any("lora" in k or ".base." in k for k in state)
    plain.load_state_dict(state)
    torch.testing.assert_close(plain.eval()(input_ids=ids).logits, before)
    merged = merge_lora(m)
    assert not any(isinstance(x, LoRALinear) for x in merged.modules())
    torch.testing.assert_close(merged(input_ids=ids).logits, before)


@pytest.mark.parametrize("override, message", [
    ("lora.r=-1", "invalid value -1 for 'lora.r'"),
    ("lora.alpha=0", "invalid value 0.0 for 'lora.alpha'"),
    ("lora.rank=8", "unknown config key 'lora.rank'"),
])
def test_bad_settings_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load([override])


def test_fine_tuning_with_lora_trains_adapters_and_saves_merged_weights(tmp_path, capsys):
    from safetensors.torch import load_file

    from framework import cli
    from tests.framework.training.test_train_e2e import SMALL, TINY, assert_run_dir

    def train(run, *overrides):
        assert cli.main(["train", f"run_dir={run}", *TINY, *overrides]) == 0
        return run

    pre = train(tmp_path / "pre", *SMALL, "model=bert_tiny", "head=bert_mlm", "objective=masked_lm")
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"{'good great fine' if i % 2 else 'bad awful poor'} film {i},"
                                             f"{'pos' if i % 2 else 'neg'}\n" for i in range(60)))
    run = train(tmp_path / "lora", "head=sequence_classification", "objective=sequence_classification", "data=csv",
                f"data.path={data}", f"init_from={pre}", "lora.r=4", "optim.lr=1e-2", "trainer.max_epochs=2")
    out = capsys.readouterr().out
    assert "lora: rank 4 adapters on qkv, out; training" in out
    metrics = assert_run_dir(run)
    before = load_file(pre / "checkpoints" / "best" / "model.safetensors")
    after = load_file(run / "checkpoints" / "best" / "model.safetensors")
    assert not any("lora" in k or ".base." in k for k in after)  # merged: a plain model of the same architecture
    layer = "backbone.layers.0"
    assert torch.equal(after[f"{layer}.ffn.up.weight"], before[f"{layer}.ffn.up.weight"])  # frozen
    assert torch.equal(after["backbone.embeddings.word.weight"], before["backbone.embeddings.word.weight"])
    assert not torch.equal(after[f"{layer}.attn.qkv.weight"], before[f"{layer}.attn.qkv.weight"])  # adapted
    # resume=auto continues from Lightning's checkpoint, which keeps the adapters themselves
    state = torch.load(run / "checkpoints" / "lightning" / "last.ckpt", map_location="cpu", weights_only=True)
    assert any(k.endswith("attn.qkv.lora_b") for k in state["state_dict"])
    # the test metrics were computed with the best (merged) weights: evaluate from the checkpoint agrees
    assert cli.main(["evaluate", f"ckpt={run / 'checkpoints' / 'best'}"]) == 0
    evaluated = capsys.readouterr().out
    assert f"test accuracy {metrics['test']['accuracy']:.4f}" in evaluated


def test_resume_auto_continues_a_lora_run_exactly(tmp_path):
    """An interrupted LoRA run resumed with resume=auto ends with the weights of an uninterrupted one: the adapters
    and their optimizer state come back from Lightning's checkpoint (the nlpf checkpoints hold merged weights)."""
    from safetensors.torch import load_file

    from framework import cli
    from tests.framework.training.test_train_e2e import TINY

    data = tmp_path / "reviews.csv"
    rows = [f"{'good great' if i % 2 else 'bad awful'} film {i},{'pos' if i % 2 else 'neg'}" for i in range(80)]
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    args = [*TINY, "model=bert_tiny", "tokenizer=byte", "tokenizer.template=cls_sep", "head=sequence_classification",
            "objective=sequence_classification", "data=csv", f"data.path={data}", "lora.r=4", "optim.lr=1e-2",
            "optim.scheduler=constant", "optim.warmup_ratio=0", "trainer.max_epochs=-1"]

    def train(run, steps, *more):
        assert cli.main(["train", f"run_dir={run}", *args, f"trainer.max_steps={steps}", *more]) == 0
        return load_file(run / "checkpoints" / "last" / "model.safetensors")

    whole = train(tmp_path / "whole", 10)
    train(tmp_path / "cut", 4)  # stops mid-epoch; its metrics.json removed, it reads as interrupted
    (tmp_path / "cut" / "metrics.json").unlink()
    resumed = train(tmp_path / "cut", 10, "resume=auto")
    assert whole.keys() == resumed.keys()
    assert [k for k in whole if not torch.equal(whole[k], resumed[k])] == []
