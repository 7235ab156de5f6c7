"""`model.dropout` / `model.attention_dropout` mean the same thing in every model family."""
import pytest
import torch

from framework.config import compose, load, validate_component
from framework.errors import ConfigError
from framework.modules import Attention, Dropout

FAMILIES = {"bert_tiny": "plugins.bert.model", "gpt_tiny": "plugins.gpt.model", "t5_tiny": "plugins.t5.model"}


def _model_node(preset, *overrides):
    return validate_component("model", compose([f"model={preset}", *overrides]).model)


def _build(preset, *overrides):
    import importlib

    return importlib.import_module(FAMILIES[preset]).build(_model_node(preset, "model.vocab_size=32", *overrides))


@pytest.mark.parametrize("preset", FAMILIES)
def test_dropout_and_attention_dropout_reach_the_modules(preset):
    model = _build(preset, "model.dropout=0.3", "model.attention_dropout=0.2")
    attention = [m.dropout for m in model.modules() if isinstance(m, Attention)]
    assert attention and set(attention) == {0.2}
    rates = {name: m.p for name, m in model.named_modules() if isinstance(m, Dropout)}
    # sublayer outputs, and embeddings (BERT/GPT) or the stack input (T5)
    outputs = {n: p for n, p in rates.items() if not n.endswith("ffn.dropout")}
    assert outputs and set(outputs.values()) == {0.3}, outputs
    inner = {p for n, p in rates.items() if n.endswith("ffn.dropout")}
    assert inner == ({0.3} if preset == "t5_tiny" else {0.0})  # only T5 drops inside the feed-forward


@pytest.mark.parametrize("preset", FAMILIES)
def test_dropout_is_checked_under_its_new_name(preset):
    with pytest.raises(ConfigError, match=r"model\.dropout.*between 0 and 1"):
        _model_node(preset, "model.dropout=1.5")


@pytest.mark.parametrize("preset, hf_name, nlpf_names", [
    ("bert_tiny", "hidden_dropout_prob", ["model.dropout"]),
    ("bert_tiny", "attention_probs_dropout_prob", ["model.attention_dropout"]),
    ("gpt_tiny", "resid_pdrop", ["model.dropout"]),
    ("gpt_tiny", "embd_pdrop", ["model.dropout"]),
    ("gpt_tiny", "attn_pdrop", ["model.attention_dropout"]),
    ("t5_tiny", "dropout_rate", ["model.dropout", "model.attention_dropout"]),
])
@pytest.mark.parametrize("plus", ["", "+"])
def test_hugging_face_name_says_which_key_to_use(preset, hf_name, nlpf_names, plus):
    with pytest.raises(ConfigError) as err:
        _model_node(preset, f"{plus}model.{hf_name}=0.2")
    message = str(err.value)
    assert f"model.{hf_name}" in message and "Hugging Face" in message
    for name in nlpf_names:
        assert f"'{name}'" in message


def test_a_typo_still_gets_did_you_mean():
    with pytest.raises(ConfigError, match="Did you mean 'model.dropout'"):
        _model_node("gpt_tiny", "model.dropuot=0.2")


def test_canonical_fine_tuning_example_composes():
    cfg = load(["experiment=finetune_sentiment", "trainer.max_steps=2", "model.dropout=0.2"])
    assert cfg.model.dropout == 0.2 and cfg.model.attention_dropout == 0.0  # the recipe's own value stays
    assert "hidden_dropout_prob" not in cfg.model


def test_dropout_does_not_change_eval_outputs():
    torch.manual_seed(0)
    a = _build("gpt_tiny", "model.dropout=0.0").eval()
    torch.manual_seed(0)
    b = _build("gpt_tiny", "model.dropout=0.5", "model.attention_dropout=0.5").eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(a(ids).last_hidden_state, b(ids).last_hidden_state)


@pytest.mark.parametrize("preset", FAMILIES)
def test_every_dropout_runs_in_training_and_none_in_eval(preset):
    model = _build(preset, "model.dropout=0.3", "model.attention_dropout=0.0")
    calls = []
    for name, m in model.named_modules():
        if isinstance(m, Dropout) and m.p > 0:
            m.register_forward_hook(lambda mod, args, out, name=name: calls.append(name))
    ids = torch.randint(5, 32, (2, 7))
    kwargs = {"decoder_input_ids": ids[:, :4]} if preset == "t5_tiny" else {}

    def forward():
        calls.clear()
        return model(ids, **kwargs).last_hidden_state

    model.train()
    first, second = forward(), forward()
    assert set(calls) == {n for n, m in model.named_modules() if isinstance(m, Dropout) and m.p > 0}
    assert not torch.equal(first, second)
    model.eval()
    assert torch.equal(forward(), forward()) and calls == []  # eval skips the modules, not just their masks
