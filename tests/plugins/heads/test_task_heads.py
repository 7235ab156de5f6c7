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


@pytest.mark.parametrize("kind, pooled", [("decoder", "last"), ("encoder", "cls"), ("encoder-decoder", "cls")])
def test_auto_pooling_reads_the_last_token_of_a_decoder_and_cls_otherwise(kind, pooled):
    backbone = type("B", (), {"hidden_size": 8, "kind": kind})()
    cfg = OmegaConf.create({"pooling": "auto", "dropout": 0.0, "pooler": False, "num_labels": 2})
    assert SequenceClassificationHeadConfig().pooling == "auto"  # the default, as GPT2ForSequenceClassification pools
    assert heads.build_sequence(cfg, backbone).pooling == pooled


def test_cls_pooling_on_a_decoder_is_refused():
    decoder = type("B", (), {"hidden_size": 8, "kind": "decoder"})()
    cfg = OmegaConf.create({"pooling": "cls", "dropout": 0.0, "pooler": False, "num_labels": 2})
    with pytest.raises(ConfigError, match="head.pooling=cls on a decoder") as err:
        heads.build_sequence(cfg, decoder)
    assert "head.pooling=last" in err.value.hint


def test_token_and_qa_heads():
    tok = heads.build_token(OmegaConf.create({"dropout": 0.0, "num_labels": 5}), Backbone())
    assert tok(torch.randn(2, 4, 8)).shape == (2, 4, 5)
    qa = heads.build_qa(OmegaConf.create({}), Backbone())
    logits = qa(torch.randn(2, 4, 8), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]))
    assert logits.shape == (2, 4, 2)
    assert (logits[0, 3] < -1e30).all()  # padding can never be picked
