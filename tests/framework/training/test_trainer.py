"""The Lightning strategy built from trainer settings."""
import pytest
from omegaconf import OmegaConf

from framework.errors import ConfigError
from framework.training.trainer import _strategy


def trainer(**kwargs):
    return OmegaConf.create({"strategy": "ddp", "accelerator": "cpu", "find_unused_parameters": False, **kwargs})


def test_ddp_leaves_the_unused_parameter_search_off_unless_asked():
    assert _strategy(trainer())._ddp_kwargs["find_unused_parameters"] is False
    assert _strategy(trainer(find_unused_parameters=True))._ddp_kwargs["find_unused_parameters"] is True
    assert _strategy(trainer(strategy="auto")) == "auto"


def test_the_search_needs_the_ddp_strategy():
    with pytest.raises(ConfigError, match="needs trainer.strategy=ddp, not 'auto'"):
        _strategy(trainer(strategy="auto", find_unused_parameters=True))
