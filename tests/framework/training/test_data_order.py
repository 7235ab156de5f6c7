"""The order of training batches under Lightning: a new order every epoch, and none repeated or lost on resume."""
import pytest

from framework import cli
from framework.training import module
from framework.training.datamodule import BucketBatchSampler

RUN = ["max_length=32", "batch_size=4", "data.max_examples=40", "trainer.enable_progress_bar=false",
       "trainer.log_every_n_steps=1", "model.n_layer=1", "model.n_embd=32", "model.n_head=2"]


@pytest.fixture
def batches(monkeypatch):
    """(epoch, batch index, token ids) of every training step, in order."""
    seen = []
    step = module.TrainModule.training_step

    def record(self, batch, batch_idx):
        seen.append((self.current_epoch, batch_idx, tuple(batch["input_ids"].flatten().tolist())))
        return step(self, batch, batch_idx)

    monkeypatch.setattr(module.TrainModule, "training_step", record)
    return seen


def test_every_epoch_has_its_own_order(tmp_path, batches):
    assert cli.main(["train", f"run_dir={tmp_path / 'run'}", *RUN, "trainer.max_epochs=2"]) == 0
    first = [ids for epoch, _, ids in batches if epoch == 0]
    second = [ids for epoch, _, ids in batches if epoch == 1]
    assert len(first) == len(second) > 2
    assert first != second
    # the same examples, regrouped: every token of epoch 0 comes back in epoch 1
    assert sorted(t for ids in first for t in ids if t) == sorted(t for ids in second for t in ids if t)


def test_the_sampler_takes_its_epoch_from_the_trainer():
    epoch = [0]
    sampler = BucketBatchSampler(list(range(5, 45)), 4, seed=0, epoch_of=lambda: epoch[0])
    orders = []
    for epoch[0] in (0, 1, 0):
        orders.append([tuple(b) for b in sampler])
    assert orders[0] != orders[1] and orders[0] == orders[2]
    sampler.skip_epoch, sampler.skip = 0, 3  # a resumed run: 3 batches of epoch 0 were trained
    epoch[0] = 0
    assert [tuple(b) for b in sampler] == orders[0][3:]
