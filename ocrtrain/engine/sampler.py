"""A batch sampler whose order and per-sample seeds are a pure function of (seed, epoch).

A resumed run therefore continues at the exact batch, with the same augmentation as an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from paddle.io import Sampler


class ResumableBatchSampler(Sampler):
    """Shuffles each epoch with ``seed + epoch``, shards batches across ranks, and can start mid-epoch.

    Every rank sees the same permutation and takes every ``world_size``-th sample of it, as
    ``paddle.io.DistributedBatchSampler`` does; ``start_batch`` skips the batches a resumed run already trained on.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if num_samples < 1:
            raise ValueError("the training set is empty")
        self.num_samples, self.batch_size = num_samples, batch_size
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def _rank_indices(self) -> np.ndarray:
        order = np.arange(self.num_samples)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(self.num_samples)
        per_rank = -(-self.num_samples // self.world_size)
        padded = np.resize(order, per_rank * self.world_size)  # repeat the head so every rank gets as many
        return padded[self.rank :: self.world_size]

    def __len__(self) -> int:
        per_rank = -(-self.num_samples // self.world_size)
        if self.drop_last and per_rank >= self.batch_size:
            return per_rank // self.batch_size
        return -(-per_rank // self.batch_size)

    def sample_seed(self, position: int) -> int:
        """The seed of the sample at ``position`` in this epoch's order (across all ranks)."""
        return int(np.random.SeedSequence([self.seed, self.epoch, position]).generate_state(1)[0])

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        """Per batch a list of ``(index, sample_seed)``: the dataset index and the seed its augmentation draws from."""
        indices = self._rank_indices()
        for b in range(self.start_batch, len(self)):
            positions = range(b * self.batch_size, min((b + 1) * self.batch_size, len(indices)))
            yield [(int(indices[p]), self.sample_seed(p * self.world_size + self.rank)) for p in positions]
