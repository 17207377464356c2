"""The trainer's batch loader: workers forked once serve every epoch (a worker forked late shares the trainer's grown
heap copy-on-write), and an epoch left early ends them, so none of its batches reaches the next epoch."""

from __future__ import annotations

import os

from ocrtrain.engine.loader import BatchLoader


class WhoBuilt:
    """Samples that say which process built them."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, item: tuple[int, int]) -> dict:
        return {"index": item[0], "pid": os.getpid()}


def batches(indices: range, size: int = 2) -> list[list[tuple[int, int]]]:
    items = [(i, 7) for i in indices]
    return [items[i : i + size] for i in range(0, len(items), size)]


def built(loader: BatchLoader, indices: range) -> list[dict]:
    return [sample for batch in loader.epoch(batches(indices)) for sample in batch]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_serve_every_epoch_and_an_epoch_left_early_leaves_nothing_behind():
    with BatchLoader(WhoBuilt(), list, num_workers=2, prefetch_per_worker=3) as loader:
        epochs = [built(loader, order) for order in (range(12), range(11, -1, -1), range(6))]
        assert [[s["index"] for s in e] for e in epochs] == [
            list(range(12)),
            list(range(11, -1, -1)),
            list(range(6)),
        ]
        workers = {s["pid"] for e in epochs for s in e}
        assert (
            len(workers) <= 2 and os.getpid() not in workers
        )  # the same two processes built all three epochs

        left = loader.epoch(batches(range(12)))
        next(left)  # five more batches are queued or built when the epoch is left
        left.close()
        assert not any(alive(pid) for pid in workers)
        third = built(loader, range(4, 8))
        assert [s["index"] for s in third] == [4, 5, 6, 7]  # nothing of the left epoch
        assert not {s["pid"] for s in third} & workers
    assert not any(alive(s["pid"]) for s in third)
