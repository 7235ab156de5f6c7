"""The objectives' speed-ups compute the same losses as the plain full-logits paths."""
import torch
from omegaconf import OmegaConf

from framework.model import build_model
from plugins.objectives.base import IGNORE_INDEX, cross_entropy
from plugins.objectives.causal_lm import CausalLM
from plugins.objectives.masked_lm import MaskedLM


def _model(model: dict, head: dict):
    torch.manual_seed(0)
    return build_model(OmegaConf.create({"model": model, "head": head})).eval()  # eval: no dropout noise


def test_masked_lm_head_only_at_targets_gives_the_full_loss_and_gradients():
    model = _model(dict(name="bert", vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16),
                   dict(name="lm", tie_word_embeddings=True, transform=True, bias=True))
    obj = MaskedLM(mask_id=4, vocab=50, special=[0, 1, 2, 3, 4], mask_probability=0.3)
    torch.manual_seed(1)
    ids = torch.randint(5, 50, (3, 12))
    batch = obj.prepare({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    assert (batch["labels"] != IGNORE_INDEX).any()
    fast_out = obj.forward(model, batch)
    assert fast_out.logits.shape == ((batch["labels"] != IGNORE_INDEX).sum().item(), 50)
    fast = obj.loss(fast_out, batch)
    fast.backward()
    fast_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    full = cross_entropy(model(**obj.inputs(batch)).logits, batch["labels"])
    full.backward()
    torch.testing.assert_close(fast, full)
    for a, p in zip(fast_grads, model.parameters()):
        torch.testing.assert_close(a, p.grad)


def test_causal_lm_loss_shifts_labels_like_slicing_logits():
    torch.manual_seed(0)
    logits = torch.randn(2, 7, 11)
    labels = torch.randint(0, 11, (2, 7))
    labels[1, 5:] = IGNORE_INDEX
    for smoothing in (0.0, 0.1):
        obj = CausalLM(label_smoothing=smoothing)
        expected = cross_entropy(logits[:, :-1], labels[:, 1:], smoothing)
        got = obj.loss(type("Out", (), {"logits": logits})(), {"labels": labels})
        torch.testing.assert_close(got, expected)


def test_masked_lm_keeps_a_compiled_model_whole():
    model = _model(dict(name="bert", vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16),
                   dict(name="lm", tie_word_embeddings=True, transform=True, bias=True))
    model._compiled_call_impl = model._call_impl  # what nn.Module.compile() sets, without compiling
    obj = MaskedLM(mask_id=4, vocab=50, special=[0, 1, 2, 3, 4])
    ids = torch.randint(5, 50, (2, 8))
    batch = obj.prepare({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    assert obj.forward(model, batch).logits.shape == (2, 8, 50)
