"""The LightningDataModule: the datasets of `framework.data` in length-bucketed, resumable, rank-sharded
batches."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from framework.data.sampler import LengthBucketBatchSampler


class BucketBatchSampler(LengthBucketBatchSampler):
    """framework.data's length-bucketed, seeded, rank-sharded batches, made resumable: `skip` batches of
    epoch `skip_epoch` are not yielded again (see ResumableLoader). Each `iter()` takes its epoch from
    `epoch_of()` (the trainer's): Lightning calls `set_epoch` on a loader's sampler, never on its batch sampler."""

    def __init__(self, *args, epoch_of=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch_of = epoch_of
        self.skip_epoch, self.skip = -1, 0

    def __iter__(self):
        if self.epoch_of is not None:
            self.set_epoch(self.epoch_of())
        batches = list(super().__iter__())
        start = self.skip if self.skip_epoch == self.epoch else 0
        self.skip_epoch, self.skip = -1, 0
        return iter(batches[start:])


class ResumableLoader(DataLoader):
    """A DataLoader Lightning saves and restores (`state_dict`): the epoch and how many batches of it
    were trained, so a resumed run continues with the very next batch. Lightning restores it only when the
    fit loop builds its train loader after the checkpoint is loaded (see TrainModule.configure_optimizers)."""

    def __init__(self, *args, progress=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._progress = progress  # () -> (epoch, batches done in it)

    def state_dict(self) -> dict:
        epoch, done = self._progress() if self._progress else (self.batch_sampler.epoch, 0)
        return {"epoch": int(epoch), "batches": int(done)}

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.skip_epoch = int(state.get("epoch", -1))
        self.batch_sampler.skip = int(state.get("batches", 0))


class DataModule(pl.LightningDataModule):
    def __init__(self, cfg, datasets: dict, tokenizer, task: str):
        super().__init__()
        self.cfg, self.datasets, self.tokenizer, self.task = cfg, datasets, tokenizer, task
        self.batch_size = int(cfg.batch_size)
        self.eval_batch_size = int(cfg.get("eval_batch_size") or cfg.batch_size)
        self.num_workers = int(cfg.get("num_workers") or 0)
        # page-locked host batches copy to the GPU asynchronously (useless, and costly, on CPU runs)
        accelerator = str((cfg.get("trainer") or {}).get("accelerator", "cpu"))
        self.pin_memory = accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _progress(self):
        loop = self.trainer.fit_loop
        return self.trainer.current_epoch, loop.epoch_loop.batch_progress.current.processed

    def _loader(self, split: str, train: bool):
        ds = self.datasets[split]
        if isinstance(ds, torch.utils.data.IterableDataset) or not hasattr(ds, "lengths"):  # streaming: sharded by the dataset
            return DataLoader(ds, batch_size=self.batch_size if train else self.eval_batch_size,
                              collate_fn=ds.collate_fn, num_workers=self.num_workers,
                              pin_memory=self.pin_memory)
        rank, world = self._rank()
        trainer = self.trainer if train else None
        sampler = BucketBatchSampler(ds.lengths, self.batch_size if train else self.eval_batch_size, shuffle=train,
                                     seed=int(self.cfg.seed), num_replicas=world, rank=rank,
                                     epoch_of=(lambda: trainer.current_epoch) if trainer is not None else None)
        cls = ResumableLoader if train else DataLoader
        extra = {"progress": self._progress} if train else {}
        return cls(ds, batch_sampler=sampler, collate_fn=ds.collate_fn, num_workers=self.num_workers,
                   pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0, **extra)

    def train_dataloader(self):
        return self._loader("train", True)

    def val_dataloader(self):
        return self._loader("validation", False) if "validation" in self.datasets else []

    def test_dataloader(self):
        return self._loader("test", False)
