"""trainer.activation_checkpointing: the same gradients (dropout included), fewer saved activations."""
import copy
import importlib

import pytest
import torch

from framework.config import compose, validate_component
from framework.training.memory import checkpoint_activations

FAMILIES = {"bert_tiny": "plugins.bert.model", "gpt_tiny": "plugins.gpt.model", "t5_tiny": "plugins.t5.model"}


def _model(preset):
    cfg = validate_component("model", compose([f"model={preset}", "model.vocab_size=64", "model.dropout=0.2",
                                                 "model.attention_dropout=0.1"]).model)
    torch.manual_seed(0)
    return importlib.import_module(FAMILIES[preset]).build(cfg).train()


def _loss(model, preset):
    ids = torch.randint(5, 64, (3, 24), generator=torch.Generator().manual_seed(1))
    kwargs = {"decoder_input_ids": ids[:, :10]} if preset == "t5_tiny" else {}
    torch.manual_seed(2)  # the dropout masks
    out = model(ids, **kwargs).last_hidden_state
    # a fixed random direction: a final norm makes simple losses such as mean(out ** 2) nearly constant
    return (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(3))).sum()


def _saved_bytes(fn) -> int:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return total, out


@pytest.mark.parametrize("preset", FAMILIES)
def test_checkpointing_keeps_the_gradients_and_saves_less(preset):
    plain = _model(preset)
    checkpointed = copy.deepcopy(plain)
    from framework.modules import TransformerLayer

    layers = [m for m in checkpointed.modules() if isinstance(m, TransformerLayer)]
    assert checkpoint_activations(checkpointed) == len(layers) >= 2 and all(m.checkpointing for m in layers)

    plain_bytes, plain_loss = _saved_bytes(lambda: _loss(plain, preset))
    ckpt_bytes, ckpt_loss = _saved_bytes(lambda: _loss(checkpointed, preset))
    plain_loss.backward()
    ckpt_loss.backward()

    assert torch.equal(plain_loss, ckpt_loss)
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters()):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:  # recomputed with the same dropout masks
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-7, msg=name)
    assert ckpt_bytes < plain_bytes / 2, (ckpt_bytes, plain_bytes)


def test_eval_and_decoding_do_not_checkpoint():
    model = _model("gpt_tiny")
    checkpoint_activations(model)
    model.eval()
    with torch.no_grad():
        out = model(torch.randint(5, 64, (1, 6)), use_cache=True)
    assert out.past_key_values is not None  # the cache still comes back


def test_a_model_without_transformer_layers_reaches_none():
    assert checkpoint_activations(torch.nn.Sequential(torch.nn.Linear(4, 4))) == 0
