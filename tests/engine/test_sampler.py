"""The training batch order: a pure function of (seed, epoch), resumable mid-epoch, sharded across ranks."""

from __future__ import annotations

import pytest

from ocrtrain.engine.sampler import ResumableBatchSampler


def epoch_batches(epoch: int, start_batch: int = 0, **kwargs) -> list[list[tuple[int, int]]]:
    sampler = ResumableBatchSampler(50, 8, seed=3, **kwargs)
    sampler.set_epoch(epoch, start_batch)
    return list(sampler)


def test_resumed_epoch_continues_with_the_same_batches_and_seeds():
    batches = epoch_batches(2)
    assert epoch_batches(2, start_batch=4) == batches[4:]
    assert epoch_batches(3) != batches


def test_every_sample_of_an_epoch_has_its_own_seed_and_epochs_differ():
    seeds = [s for batch in epoch_batches(2) for _, s in batch]
    assert len(set(seeds)) == len(seeds)
    assert not set(seeds) & {s for batch in epoch_batches(3) for _, s in batch}
    other_run = ResumableBatchSampler(50, 8, seed=4)
    other_run.set_epoch(2)
    assert [i for b in other_run for i, _ in b] != [i for b in epoch_batches(2) for i, _ in b]


def test_ranks_split_every_epoch_without_overlap():
    shards = [ResumableBatchSampler(40, 4, seed=1, rank=r, world_size=2) for r in range(2)]
    seen = [[i for batch in s for i, _ in batch] for s in shards]
    assert len(shards[0]) == len(shards[1]) == 5
    assert not set(seen[0]) & set(seen[1]) and len(set(seen[0]) | set(seen[1])) == 40


def test_tiny_dataset_still_yields_a_batch():
    (batch,) = list(ResumableBatchSampler(3, 8, shuffle=False))
    assert [i for i, _ in batch] == [0, 1, 2]
    with pytest.raises(ValueError, match="empty"):
        ResumableBatchSampler(0, 8)
