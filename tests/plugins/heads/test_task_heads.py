import pytest
import torch
from omegaconf import OmegaConf

from framework.checks import FieldError
from framework.errors import ConfigError
from plugins.heads import classification as heads
from plugins.heads.config import SequenceClassificationHeadConfig


class Backbone:
    hidden_size = 8


def test_sequence_head_pooling():
    h = torch.arange(2 * 3 * 8, dtype=torch.float).view(2, 3, 8)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.equal(heads.pool(h, mask, "cls"), h[:, 0])
    assert torch.allclose(heads.pool(h, mask, "mean")[0], h[0, :2].mean(0))
    assert torch.equal(heads.pool(h, mask, "last")[0], h[0, 1])
    assert torch.equal(heads.pool(h, mask, "last")[1], h[1, 2])


def test_sequence_head_shapes_and_pooler():
    cfg = OmegaConf.create({"pooling": "mean", "dropout": 0.0, "pooler": True, "num_labels": None})
    head = heads.build_sequence(cfg, Backbone(), num_labels=3)
    assert head(torch.randn(2, 5, 8), torch.ones(2, 5)).shape == (2, 3)
    assert head.dense is not None
    with pytest.raises(ConfigError, match="number of labels"):
        heads.build_sequence(cfg, Backbone(), num_labels=None)
    with pytest.raises(FieldError, match="unknown choice"):  # checked when the config is validated
        SequenceClassificationHeadConfig(pooling="max")


def test_token_and_qa_heads():
    tok = heads.build_token(OmegaConf.create({"dropout": 0.0, "num_labels": 5}), Backbone())
    assert tok(torch.randn(2, 4, 8)).shape == (2, 4, 5)
    qa = heads.build_qa(OmegaConf.create({}), Backbone())
    logits = qa(torch.randn(2, 4, 8), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]))
    assert logits.shape == (2, 4, 2)
    assert (logits[0, 3] < -1e30).all()  # padding can never be picked
