"""label_smoothing shapes the training loss only: every evaluation loss (validation, test, `nlpf evaluate`) is
the plain negative log-likelihood, so that the reported perplexity is exp(NLL)."""
import math

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from framework.model import build_model
from plugins.objectives import causal_lm, classification, seq2seq
from plugins.objectives.base import IGNORE_INDEX
from plugins.objectives.causal_lm import CausalLM


class Tok:
    pad_id = 0


def cfg(**kw):
    return OmegaConf.create(kw)


def _logits_out(logits):
    return type("O", (), {"logits": logits})()


def _cases():
    """(objective with smoothing 0.1, output, batch, plain CE, smoothed CE) for each objective that takes it."""
    torch.manual_seed(0)
    labels = torch.randint(1, 20, (2, 6))
    labels[1, 4:] = IGNORE_INDEX
    logits = torch.randn(2, 6, 20)
    shifted = F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
    classes = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    tokens = torch.randn(2, 5, 3), torch.tensor([[0, 1, 2, IGNORE_INDEX, 1], [2, 2, IGNORE_INDEX, 0, 1]])

    def ce(lg, lb, s):
        return F.cross_entropy(lg.reshape(-1, lg.size(-1)), lb.reshape(-1), ignore_index=IGNORE_INDEX,
                               label_smoothing=s)

    yield "causal_lm", causal_lm.build(cfg(label_smoothing=0.1)), logits, {"labels": labels}, shifted, ce
    s2s = seq2seq.build(cfg(label_smoothing=0.1), Tok())
    yield "seq2seq", s2s, logits, s2s.prepare({"labels": labels}), labels, ce
    seq = classification.build_sequence(cfg(label_smoothing=0.1, class_weights=None))
    yield "sequence_classification", seq, classes[0], {"labels": classes[1]}, classes[1], ce
    tok = classification.build_token(cfg(label_smoothing=0.1, class_weights=None))
    yield "token_classification", tok, tokens[0], {"labels": tokens[1]}, tokens[1], ce


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[0])
def test_smoothing_in_training_plain_cross_entropy_in_evaluation(case):
    _, obj, logits, batch, targets, ce = case
    out = _logits_out(logits)
    smoothed, plain = ce(logits, targets, 0.1), ce(logits, targets, 0.0)
    assert not torch.allclose(smoothed, plain)
    torch.testing.assert_close(obj.loss(out, batch), smoothed)  # training: gradients recorded
    with torch.no_grad():  # evaluation in a validation loop
        torch.testing.assert_close(obj.loss(out, batch), plain)
    with torch.inference_mode():  # Lightning's validate/test (nlpf evaluate) and the inference commands
        torch.testing.assert_close(obj.loss(out, batch), plain)
    assert obj.label_smoothing == 0.1  # the setting itself is untouched


def test_class_weights_stay_in_the_evaluation_loss():
    """Only the smoothing is a training device: weighted classes weigh the evaluation loss too."""
    obj = classification.build_sequence(cfg(label_smoothing=0.1, class_weights=[1.0, 0.0]))
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    with torch.no_grad():
        got = obj.loss(_logits_out(logits), {"labels": torch.tensor([0, 1])})
    torch.testing.assert_close(got, F.cross_entropy(logits[:1], torch.tensor([0])))


def _gpt():
    torch.manual_seed(0)
    model = build_model(OmegaConf.create({"model": dict(name="gpt", vocab_size=61, n_positions=16, n_embd=32,
                                                        n_layer=1, n_head=2),
                                          "head": dict(name="lm", tie_word_embeddings=True)}),
                        init=False)  # torch's wide default init: confident logits, where smoothing shows
    ids = torch.randint(0, 61, (3, 10))
    mask = torch.ones_like(ids)
    mask[2, 7:] = 0
    return model, {"input_ids": ids, "attention_mask": mask}


def test_fused_training_loss_is_smoothed_evaluation_loss_is_plain_nll():
    model, raw = _gpt()
    model.eval()  # no dropout: the same logits in both modes
    obj = CausalLM(label_smoothing=0.1)
    batch = obj.prepare(dict(raw))
    with torch.no_grad():
        logits = model(**obj.inputs(batch)).logits
        targets = batch["labels"][:, 1:]
        plain = F.cross_entropy(logits[:, :-1].reshape(-1, 61), targets.reshape(-1), ignore_index=IGNORE_INDEX)
        smoothed = F.cross_entropy(logits[:, :-1].reshape(-1, 61), targets.reshape(-1), ignore_index=IGNORE_INDEX,
                                   label_smoothing=0.1)
    out = obj.forward(model, batch)
    assert out.logits is None  # training: the fused LM-head loss
    torch.testing.assert_close(obj.loss(out, batch).detach(), smoothed)
    with torch.inference_mode():
        out = obj.forward(model, batch)
        assert out.logits is not None
        torch.testing.assert_close(obj.loss(out, batch), plain)


def test_lightning_validation_and_test_report_perplexity_of_the_plain_nll():
    """The real evaluation path: TrainModule under Lightning's validate/test (what `nlpf train` runs after each
    validation interval and at the end, and what `nlpf evaluate` runs)."""
    from framework.training.module import TrainModule

    model, raw = _gpt()
    obj = CausalLM(label_smoothing=0.1)
    module = TrainModule(OmegaConf.create({"optim": {}, "trainer": {"on_nan": "raise"}}), model, obj)
    batch = obj.prepare(dict(raw))
    model.eval()  # no dropout: the training step below sees the same logits
    with torch.no_grad():
        logits = model(**obj.inputs(batch)).logits[:, :-1].reshape(-1, 61)
        targets = batch["labels"][:, 1:].reshape(-1)
        plain = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX).item()
        smoothed = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, label_smoothing=0.1).item()
    assert abs(smoothed - plain) > 0.01
    _, _, train_loss = module._step(dict(raw))  # what training_step optimises: smoothed
    assert train_loss.item() == pytest.approx(smoothed, rel=1e-5)
    loader = torch.utils.data.DataLoader([raw], batch_size=None)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    for results in (trainer.validate(module, dataloaders=loader, verbose=False)[0],
                    trainer.test(module, dataloaders=loader, verbose=False)[0]):
        prefix = next(iter(results)).split("/")[0]
        assert results[f"{prefix}/loss"] == pytest.approx(plain, rel=1e-5)
        assert results[f"{prefix}/perplexity"] == pytest.approx(math.exp(plain), rel=1e-5)
