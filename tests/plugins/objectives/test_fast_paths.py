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
    with torch.no_grad():  # evaluation: logits at the targets only, for the metrics
        assert obj.forward(model, batch).logits.shape == ((batch["labels"] != IGNORE_INDEX).sum().item(), 50)
    fast_out = obj.forward(model, batch)
    assert fast_out.logits is None and fast_out.loss is not None  # training: projection fused with the loss
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


def _fused_and_full(model, obj, batch, full_loss):
    """(fused loss, its gradients), (full-logits loss, its gradients)."""
    out = obj.forward(model, batch)
    assert out.logits is None, "training should take the fused LM-head path"
    fused = obj.loss(out, batch)
    fused.backward()
    fused_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    full = full_loss(model(**obj.inputs(batch)).logits)
    full.backward()
    return (fused, fused_grads), (full, [p.grad for p in model.parameters()])


def _assert_same(fused, full):
    torch.testing.assert_close(fused[0], full[0])
    for a, b in zip(fused[1], full[1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_causal_lm_fused_head_gives_the_full_loss_and_gradients():
    model = _model(dict(name="gpt", vocab_size=61, n_positions=16, n_embd=32, n_layer=1, n_head=2),
                   dict(name="lm", tie_word_embeddings=True))
    ids = torch.randint(0, 61, (3, 10))
    mask = torch.ones_like(ids)
    mask[2, 7:] = 0  # a padded row: its padding carries no loss
    for smoothing in (0.0, 0.1):
        obj = CausalLM(label_smoothing=smoothing)
        batch = obj.prepare({"input_ids": ids, "attention_mask": mask})
        fused, full = _fused_and_full(model, obj, batch, lambda logits: cross_entropy(
            logits[:, :-1], batch["labels"][:, 1:], smoothing))
        _assert_same(fused, full)
        model.zero_grad()


def test_span_corruption_fused_head_gives_the_full_loss_and_gradients():
    from plugins.objectives.span_corruption import SpanCorruption

    model = _model(dict(name="t5", vocab_size=70, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
                        dropout=0.0, attention_dropout=0.0),
                   dict(name="lm", tie_word_embeddings=True, rescale=True))
    obj = SpanCorruption(list(range(69, 59, -1)), pad_id=0, eos_id=1)
    ids = torch.randint(2, 60, (3, 24))
    mask = torch.ones_like(ids)
    mask[1, 15:] = 0  # rows of different lengths: padded targets
    batch = obj.prepare({"input_ids": ids, "attention_mask": mask})
    assert (batch["labels"] == IGNORE_INDEX).any()
    fused, full = _fused_and_full(model, obj, batch, lambda logits: cross_entropy(logits, batch["labels"]))
    _assert_same(fused, full)


def test_evaluation_without_gradients_keeps_the_logits():
    model = _model(dict(name="gpt", vocab_size=61, n_positions=16, n_embd=32, n_layer=1, n_head=2),
                   dict(name="lm", tie_word_embeddings=True))
    obj = CausalLM()
    batch = obj.prepare({"input_ids": torch.randint(0, 61, (2, 8))})
    with torch.no_grad():
        out = obj.forward(model, batch)
    assert out.logits.shape == (2, 8, 61)
    model._compiled_call_impl = model._call_impl  # a compiled model runs whole, logits included
    assert obj.forward(model, batch).logits.shape == (2, 8, 61)


def test_cls_classification_runs_the_last_layer_at_the_first_position_with_the_same_loss_and_gradients():
    from plugins.objectives.classification import SequenceClassification

    model = _model(dict(name="bert", vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16),
                   dict(name="sequence_classification", num_labels=3, pooling="cls"))
    obj = SequenceClassification()
    ids = torch.randint(5, 50, (4, 10))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 2, 1, 2])}
    fast_out = obj.forward(model, batch)
    assert fast_out.last_hidden_state.shape == (4, 32)  # only the first position left the last layer
    fast = obj.loss(fast_out, batch)
    fast.backward()
    fast_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    full_out = model(**obj.inputs(batch))
    full = obj.loss(full_out, batch)
    full.backward()
    torch.testing.assert_close(fast_out.logits, full_out.logits)
    torch.testing.assert_close(fast, full)
    for a, p in zip(fast_grads, model.parameters()):
        torch.testing.assert_close(a, p.grad)
    mean = _model(dict(name="bert", vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=16),
                  dict(name="sequence_classification", num_labels=3, pooling="mean"))
    assert obj.forward(mean, batch).last_hidden_state.shape == (4, 10, 32)  # mean pooling needs every position
