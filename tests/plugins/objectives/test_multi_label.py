"""objective=multi_label_classification: BCE-with-logits over multi-hot targets, pos_weight, label smoothing in
training only, and its pairing with heads and architectures."""
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from framework import config
from framework.errors import ConfigError
from plugins.objectives import multi_label

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [-0.3, 1.5, -2.0]])
TARGET = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])


def build(**kw):
    return multi_label.build(OmegaConf.create({"pos_weight": None, "label_smoothing": 0.0, **kw}))


def loss(obj, logits=LOGITS, target=TARGET):
    return obj.loss(type("O", (), {"logits": logits})(), {"labels": target})


def by_hand(logits, target, pos_weight=None):
    """-(w y log s(x) + (1 - y) log(1 - s(x))), averaged over every label of every example."""
    w = torch.ones(logits.shape[-1]) if pos_weight is None else torch.tensor(pos_weight)
    p = torch.sigmoid(logits)
    return -(w * target * p.log() + (1 - target) * (1 - p).log()).mean()


def test_loss_is_torch_bce_with_logits_averaged_over_labels_and_examples():
    got = loss(build())
    torch.testing.assert_close(got, torch.nn.BCEWithLogitsLoss()(LOGITS, TARGET))
    torch.testing.assert_close(got, by_hand(LOGITS, TARGET))
    assert loss(build(), LOGITS, torch.zeros(2, 3)) > got  # an empty label set is a target too


def test_pos_weight_weighs_the_positive_term_of_each_label():
    got = loss(build(pos_weight=[3.0, 1.0, 0.5]))
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0, 1.0, 0.5]))(LOGITS, TARGET)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got, by_hand(LOGITS, TARGET, [3.0, 1.0, 0.5]))
    assert not torch.allclose(got, loss(build()))


def test_pos_weight_needs_one_weight_per_label():
    obj = build(pos_weight=[2.0, 1.0])
    with pytest.raises(ConfigError, match="objective.pos_weight has 2 weights, but there are 3 labels") as err:
        obj.check_labels(["politics", "sports", "tech"])
    assert "objective.pos_weight=[1,1,1]" in err.value.hint
    build(pos_weight=[2.0, 1.0, 1.0]).check_labels(["politics", "sports", "tech"])
    with pytest.raises(ConfigError, match="objective.pos_weight.*not a weight >= 0"):
        config.validate_component("objective", OmegaConf.create({"name": "multi_label_classification",
                                                                 "pos_weight": [1.0, -2.0]}))


def test_label_smoothing_applies_to_the_training_loss_only():
    obj = build(label_smoothing=0.2)
    smoothed = TARGET * 0.8 + 0.1  # as 2-class cross-entropy's label_smoothing, per label
    torch.testing.assert_close(loss(obj), F.binary_cross_entropy_with_logits(LOGITS, smoothed))
    with torch.no_grad():  # evaluation: the plain loss
        torch.testing.assert_close(loss(obj), F.binary_cross_entropy_with_logits(LOGITS, TARGET))


def test_a_head_with_another_number_of_outputs_is_named():
    with pytest.raises(ConfigError, match="the head gives 2 outputs per text, but there are 3 labels"):
        loss(build(), LOGITS[:, :2])


@pytest.mark.parametrize("overrides, message", [
    (["model=bert_tiny", "head=token_classification"], "one label per sequence"),
    (["model=gpt_tiny", "head=lm"], "one label per sequence"),
    (["model=t5_tiny", "head=sequence_classification"], "does not work with architecture"),
])
def test_a_head_or_architecture_that_does_not_fit_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config.check_pairing(config.compose([*overrides, "objective=multi_label_classification"]))
    config.check_pairing(config.compose(["model=bert_tiny", "head=sequence_classification",
                                         "objective=multi_label_classification"]))
