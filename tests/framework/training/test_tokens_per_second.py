"""Epoch throughput leaves validation out: its seconds are reported beside the training seconds."""
from types import SimpleNamespace

import torch

from framework.training import callbacks
from framework.training.callbacks import TokensPerSecond


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_validation_time_is_reported_apart_from_training_time(monkeypatch, capsys):
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    trainer = SimpleNamespace(world_size=1, sanity_checking=False, current_epoch=0, is_global_zero=True)
    logged = {}
    module = SimpleNamespace(log=lambda name, value, **_: logged.__setitem__(name, value))
    batch = {"attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])}  # 5 real tokens
    cb = TokensPerSecond(every=2)

    trainer.sanity_checking = True  # the sanity check runs before training: not counted anywhere
    cb.on_validation_start(trainer, module)
    clock.now += 7
    trainer.sanity_checking = False
    cb.on_train_epoch_start(trainer, module)
    for i in range(4):
        cb.on_train_batch_start(trainer, module, batch, i)
        clock.now += 1.0  # one second per step
        cb.on_train_batch_end(trainer, module, None, batch, i)
        if i == 1:  # a validation in the middle of the epoch (val_check_interval), 3 s
            cb.on_validation_start(trainer, module)
            clock.now += 3.0
    cb.on_validation_start(trainer, module)  # the end-of-epoch validation and checkpoint saves, 5 s
    clock.now += 5.0
    cb.on_train_epoch_end(trainer, module)

    assert cb.epochs == [{"epoch": 0, "seconds": 4.0, "validation_seconds": 8.0, "tokens": 20, "tokens_per_s": 5}]
    assert logged["train/tokens_per_s"] == 20 / 4.0  # the last step's progress figure leaves out the 3 s too
    assert "epoch 0: 4.0 s of training, 5 tokens/s; 8.0 s of validation and checkpoints" in capsys.readouterr().out
