"""Lightning's advertising tips are dropped; its other messages stay."""
import logging
import warnings

from framework.training.trainer import quiet_lightning


def test_tips_are_dropped_and_other_lightning_messages_kept(caplog):
    quiet_lightning()
    quiet_lightning()  # idempotent: one filter
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    assert len(logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="pytorch_lightning.utilities.rank_zero"):
        logger.info("\N{ELECTRIC LIGHT BULB} Tip: For seamless cloud logging, try installing litlogger")
        logger.info("GPU available: False, used: False")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["GPU available: False, used: False"]


def test_the_leafspec_deprecation_raised_inside_lightning_is_ignored():
    quiet_lightning()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_lightning()  # filters are re-installed inside this context
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
        warnings.warn("something else is deprecated", FutureWarning)
    assert [str(w.message) for w in caught] == ["something else is deprecated"]


def test_an_empty_split_the_config_asked_for_is_no_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_lightning()
        warnings.warn("Total length of `list` across ranks is zero. Please make sure this was your intention.")
        warnings.warn("Total batches differ")
    assert [str(w.message) for w in caught] == ["Total batches differ"]


def test_lightnings_legacy_precision_names_are_passed_as_the_current_ones():
    from omegaconf import OmegaConf

    from framework.training.precision import resolve

    for given, passed in (("bf16", "bf16-mixed"), ("16", "16-mixed"), ("32", "32"), ("bf16-mixed", "bf16-mixed")):
        assert resolve(OmegaConf.create({"precision": given, "accelerator": "cpu"}))[0] == passed
