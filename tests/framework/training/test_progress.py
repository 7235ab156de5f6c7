from framework.training.progress import ProgressBar, epoch_label


def test_epoch_bound_run_counts_from_zero_like_lightning():
    assert epoch_label(2, 3) == "Epoch 2/2"


def test_step_or_time_bound_run_shows_no_negative_total():
    # max_steps (or max_time) alone: Lightning runs with max_epochs -1, which its own bar prints as 'Epoch 4/-2'
    assert epoch_label(4, -1) == "Epoch 4"
    assert epoch_label(0, None) == "Epoch 0"


def test_the_trainer_shows_that_bar_only_when_asked(tmp_path):
    from framework.config import load
    from framework.training.trainer import make_trainer

    for shown in (True, False):
        cfg = load([f"trainer.enable_progress_bar={str(shown).lower()}", "trainer.max_steps=5"])
        trainer, _ = make_trainer(cfg, tmp_path / str(shown), "val/loss", "min", save=lambda *a: None)
        bars = [c for c in trainer.callbacks if isinstance(c, ProgressBar)]
        assert len(bars) == int(shown)
        if shown:
            assert trainer.progress_bar_callback is bars[0]
            bars[0]._trainer = trainer
            assert bars[0]._get_train_description(4).strip() == "Epoch 4"
