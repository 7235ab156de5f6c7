"""Length bucketing for fine-tuning: batches of similar lengths (less padding), deterministic per seed and
epoch, and sharded so that each DDP rank gets its own batches and all ranks the same number of them."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np


def distributed_rank_and_size() -> tuple[int, int]:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except ImportError:
        pass
    return 0, 1


class LengthBucketBatchSampler:
    """Shuffle, cut into buckets of `batch_size * bucket_batches` examples, sort each bucket by length, cut it
    into batches, shuffle the batches, deal them to the ranks round-robin. Use it as a DataLoader
    `batch_sampler` (with Lightning, set `use_distributed_sampler=False`: this sampler shards itself).

    Args:
        lengths: token count of each example (`dataset.lengths`).
        batch_size: examples per batch (per rank).
        shuffle: False keeps the data order (evaluation), still bucketed by length.
        seed: with the epoch (`set_epoch`) decides the order; equal on every rank.
        num_replicas, rank: DDP world size and this rank (default: from torch.distributed, else 1 and 0).
        drop_last: drop the last, smaller batch of each bucket instead of keeping it.
        bucket_batches: how many batches one bucket spans; larger means less padding, less randomness.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 num_replicas: int | None = None, rank: int | None = None, drop_last: bool = False,
                 bucket_batches: int = 50):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        default_rank, default_size = distributed_rank_and_size()
        self.lengths = np.asarray(lengths)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.num_replicas = num_replicas if num_replicas is not None else default_size
        self.rank = rank if rank is not None else default_rank
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {self.rank} is not in [0, {self.num_replicas})")
        self.drop_last, self.bucket_batches = drop_last, bucket_batches
        self.epoch = 0
        self._own: tuple[int | None, int] = (None, 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _all_batches(self) -> list[np.ndarray]:
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        span = self.batch_size * self.bucket_batches
        batches = []
        for start in range(0, n, span):
            bucket = order[start:start + span]
            bucket = bucket[np.argsort(self.lengths[bucket], kind="stable")]
            for b in range(0, len(bucket), self.batch_size):
                batch = bucket[b:b + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _per_rank(self, total: int) -> int:
        return total // self.num_replicas if self.drop_last else math.ceil(total / self.num_replicas)

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        if not batches:
            return iter(())
        wanted = self._per_rank(len(batches)) * self.num_replicas
        # every rank must run the same number of steps: repeat batches from the start to fill the last round
        padded = [batches[i % len(batches)] for i in range(wanted)]
        return iter([b.tolist() for b in padded[self.rank::self.num_replicas]])

    def __len__(self) -> int:
        return self._per_rank(len(self._all_batches()))

    def own_batches(self) -> int:
        """How many of this rank's batches are its own: the ones after them repeat earlier batches only so that
        every rank runs the same number of steps, and an evaluation must not count them again."""
        if self._own[0] != self.epoch:  # asked at every evaluation step: computed once per epoch
            total = len(self._all_batches())
            own = max(0, math.ceil((total - self.rank) / self.num_replicas))
            self._own = (self.epoch, min(self._per_rank(total), own))
        return self._own[1]
