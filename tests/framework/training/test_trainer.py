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


@pytest.mark.parametrize("max_epochs, max_steps, max_time, expected", [
    (None, -1, None, 1), (None, 50, None, -1), (3, 50, None, 3), (-1, 50, None, -1), (None, -1, "00:00:10:00", -1),
    (2, -1, "00:00:10:00", 2)])
def test_max_steps_or_max_time_decides_when_max_epochs_is_left_unset(max_epochs, max_steps, max_time, expected):
    from framework.training.trainer import max_epochs as resolve

    t = OmegaConf.create({"max_epochs": max_epochs, "max_steps": max_steps, "max_time": max_time})
    assert resolve(t) == expected


def test_a_whole_number_counts_batches_and_a_float_is_a_fraction(tmp_path):
    """Lightning's rule: limit_val_batches=1 is one batch, 1.0 all of them."""
    from framework.config import load
    from framework.training.trainer import make_trainer

    for value, expected in (("1", 1), ("1.0", 1.0), ("0.25", 0.25), ("3", 3), ("2.0", 2)):
        cfg = load([f"trainer.limit_val_batches={value}", f"trainer.val_check_interval={value}"])
        trainer, _ = make_trainer(cfg, tmp_path / value, "val/loss", "min", save=lambda *a: None)
        assert trainer.limit_val_batches == expected and type(trainer.limit_val_batches) is type(expected), value
        assert trainer.val_check_interval == expected and type(trainer.val_check_interval) is type(expected), value


@pytest.mark.parametrize("overrides, message", [
    (["trainer.limit_val_batches=1.5"], "a fraction is at most 1.0, a number of batches is whole"),
    (["trainer.max_steps=0"], "invalid value 0 for 'trainer.max_steps': trains nothing"),
    (["trainer.limit_train_batches=0"], "'trainer.limit_train_batches': trains nothing"),
    (["trainer.max_epochs=-1"], "training would never end"),
    (["trainer.early_stopping_patience=2", "trainer.limit_val_batches=0"], "needs validation"),
])
def test_settings_that_cannot_train_as_meant_are_refused_with_the_config(overrides, message):
    from framework.config import load

    with pytest.raises(ConfigError, match=message):
        load(overrides)
