"""The Lightning strategy built from trainer settings, and the settings it needs."""
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
    """Checked with the config, before anything is built."""
    from framework.config import load

    with pytest.raises(ConfigError, match="needs trainer.strategy=ddp, not 'auto'"):
        load(["trainer.find_unused_parameters=true"])
    assert load(["trainer=ddp", "trainer.find_unused_parameters=true"]).trainer.find_unused_parameters is True
