"""Streaming datasets for corpora larger than memory: examples are dealt round-robin to the
(DDP rank x DataLoader worker) readers, so each example is read by exactly one of them."""
from __future__ import annotations

import os
from typing import Callable, Iterator

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from framework.data.sampler import distributed_rank_and_size


def shard_of_this_reader(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """(this reader's shard, number of shards) over ranks x workers. Rank and world size default to
    torch.distributed, then the RANK/WORLD_SIZE environment variables."""
    if rank is None or world_size is None:
        rank, world_size = distributed_rank_and_size()
        if world_size == 1 and "WORLD_SIZE" in os.environ:
            rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ["WORLD_SIZE"])
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * workers + worker, world_size * workers


class ShardedStream(IterableDataset):
    """Yields the examples of `examples()` (a picklable callable returning an iterator) that belong to this
    reader: example i goes to shard i mod shards."""

    def __init__(self, examples: Callable[[], Iterator[dict]], rank: int | None = None, world_size: int | None = None):
        super().__init__()
        self.examples, self.rank, self.world_size = examples, rank, world_size

    def own_examples(self) -> Iterator[dict]:
        shard, shards = shard_of_this_reader(self.rank, self.world_size)
        for i, ex in enumerate(self.examples()):
            if i % shards == shard:
                yield ex

    def __iter__(self) -> Iterator[dict]:
        return self.own_examples()


class _TrainStream:
    def __init__(self, source):
        self.source = source

    def __call__(self):
        return self.source.stream("train")


class StreamingLMDataset(ShardedStream):
    """Language modelling over a streamed source: each reader tokenizes its own documents in batches and
    packs them (each followed by </s>) into blocks of `block_size`; its last block is padded."""

    def __init__(self, source, tokenizer, block_size: int, rank: int | None = None, world_size: int | None = None,
                 chunk: int = 512):
        super().__init__(_TrainStream(source), rank, world_size)
        self.tokenizer, self.block_size, self.chunk = tokenizer, block_size, chunk

    def _blocks(self, ids: list[int], final: bool):
        L = self.block_size
        while len(ids) >= L or (final and ids):
            block = np.asarray(ids[:L], dtype=np.int64)
            del ids[:L]
            mask = np.ones(L, dtype=np.int64)
            if len(block) < L:
                mask[len(block):] = 0
                pad = self.tokenizer.pad_id if self.tokenizer.pad_id is not None else 0
                block = np.concatenate([block, np.full(L - len(block), pad, dtype=np.int64)])
            yield {"input_ids": block, "attention_mask": mask}

    def __iter__(self):
        end = self.tokenizer.eos_id if self.tokenizer.eos_id is not None else self.tokenizer.sep_id
        buffer: list[int] = []
        pending: list[str] = []
        for ex in self.own_examples():
            pending.append(ex["text"])
            if len(pending) >= self.chunk:
                for enc in self.tokenizer.encode_batch(pending, add_special_tokens=False):
                    buffer += enc.ids + ([end] if end is not None else [])
                pending = []
                yield from self._blocks(buffer, final=False)
        for enc in self.tokenizer.encode_batch(pending, add_special_tokens=False) if pending else []:
            buffer += enc.ids + ([end] if end is not None else [])
        yield from self._blocks(buffer, final=True)

