"""Training batches built in worker processes, with errors that end the run instead of hanging it.

Each item of a batch is ``(index, sample_seed)`` (see :mod:`ocrtrain.engine.sampler`) and is passed to the dataset
as is: its augmentation draws from ``sample_seed``, so a sample is the same in any worker, in any run. Python's
``random`` and numpy's global generator are seeded from it too, for any library code that draws from them.

Workers are forked once (``start``, before the trainer's heap grows: a worker forked later shares, copy-on-write,
every page the trainer's allocator keeps) and serve epoch after epoch; they receive batch numbers through a task
queue and send back the collated batch or the error. The main process delivers batches in order, re-raises a
worker's exception as itself (e.g. ``LabelError`` with its ``file:line``), notices a worker that died, and gives up
after ``timeout_s`` without a batch. An epoch left before its end (``max_steps``, an error, a signal) ends the
workers, so no stale batch can reach the next epoch (which forks anew); ``close`` ends them too.

Shutdown is the main process's alone: workers ignore Ctrl-C and SIGTERM (sent to the whole process group, they
would otherwise run the trainer's handler, inherited with the fork) and end when it ends them. If it dies without
doing so (``kill -9``), they die with it: on Linux the kernel kills them (``PR_SET_PDEATHSIG``; it follows the
thread that forked them, so fork from a thread that outlives the loader), elsewhere they notice within a second
while waiting for a task.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing as mp
import os
import pickle
import queue
import random
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

Item = tuple[int, int]  # (index into the dataset, sample_seed)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_CHECK_S = 1.0  # how often a waiting worker checks that its parent is alive


class DataWorkerError(RuntimeError):
    """A data worker failed with an exception that cannot travel between processes, or died."""


def seed_process(*key: int) -> None:
    """Seed python's and numpy's global generators from a tuple of non-negative ints."""
    state = np.random.SeedSequence([int(k) for k in key]).generate_state(2)
    random.seed(int(state[0]))
    np.random.seed(int(state[1]))


def build_batch(dataset: Any, collate: Callable[[list[Any]], Any], items: list[Item]) -> Any:
    samples = []
    for index, sample_seed in items:
        seed_process(sample_seed)
        samples.append(dataset[(index, sample_seed)])  # the datasets draw their augmentation from sample_seed
    return collate(samples)


class _RemoteError:
    """An exception on its way from a worker: its class, args and attributes, rebuilt as itself in the main process.

    Exceptions whose ``__init__`` takes other arguments than their ``args`` cannot be unpickled directly; rebuilding
    skips ``__init__``, so the main process raises the worker's exception with its message and attributes intact.
    """

    def __init__(self, error: BaseException, items: list[Item]) -> None:
        self.cls, self.args, self.state = type(error), error.args, dict(vars(error))
        self.text = f"{type(error).__name__}: {error}"
        self.trace = "".join(traceback.format_exception(error))
        self.indices = [index for index, _ in items]

    def rebuild(self) -> BaseException:
        error = self.cls.__new__(self.cls)
        error.args = self.args
        vars(error).update(self.state)
        return error


def _portable(error: BaseException, items: list[Item]) -> Any:
    """What crosses back to the main process: the error rebuilt there, or its text when even that cannot travel."""
    remote = _RemoteError(error, items)
    try:
        pickle.loads(pickle.dumps(remote)).rebuild()
        return remote
    except Exception:
        return DataWorkerError(f"building samples {remote.indices}: {remote.text}\n{remote.trace}")


def _die_with_parent() -> None:
    """Linux: the kernel sends this process SIGKILL when its parent dies, even in the middle of a batch."""
    with contextlib.suppress(OSError, AttributeError):  # no prctl: _next_task's check of the parent remains
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _next_task(tasks: Any, parent: int) -> tuple[int, list[Item]]:
    """The next task; once ``parent`` is gone (this process was handed to another), the process ends at once: a
    normal exit would wait forever for batches still queued for the dead parent to be read."""
    while os.getppid() == parent:
        try:
            return tasks.get(timeout=PARENT_CHECK_S)
        except queue.Empty:
            continue
    os._exit(0)


def _work(
    dataset: Any, collate: Callable, tasks: Any, results: Any, key: tuple[int, ...], parent: int
) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    _die_with_parent()
    seed_process(*key)
    while True:
        number, items = _next_task(tasks, parent)
        try:
            results.put((number, True, build_batch(dataset, collate, items)))
        except Exception as e:
            results.put((number, False, _portable(e, items)))


class _Workers:
    """Worker processes and their two queues."""

    def __init__(self, dataset: Any, collate: Callable, count: int, seed: int) -> None:
        ctx = mp.get_context("fork")
        self.tasks, self.results = ctx.Queue(), ctx.Queue()
        self.processes = [
            ctx.Process(
                target=_work,
                args=(dataset, collate, self.tasks, self.results, (seed, worker_id), os.getpid()),
                daemon=True,
            )
            for worker_id in range(count)
        ]
        for w in self.processes:
            w.start()
        # at interpreter exit multiprocessing ends daemon workers with SIGTERM, which they ignore, and then waits
        # for them: a loader never closed would hang its process there. Registered after multiprocessing's own
        # exit hook, this one runs first and kills them.
        atexit.register(self.stop)

    def stop(self) -> None:
        atexit.unregister(self.stop)
        for w in self.processes:
            if w.is_alive():
                w.kill()
        for w in self.processes:
            w.join(timeout=5)
        for q in (self.tasks, self.results):
            q.cancel_join_thread()
            q.close()


class BatchLoader:
    """Batches of ``dataset`` built by ``num_workers`` processes (0: in the calling thread)."""

    def __init__(
        self,
        dataset: Any,
        collate: Callable[[list[Any]], Any],
        num_workers: int = 0,
        seed: int = 0,
        prefetch_per_worker: int = 2,
        timeout_s: float = 600.0,
    ) -> None:
        self.dataset, self.collate, self.num_workers, self.seed = dataset, collate, num_workers, seed
        self.prefetch = max(1, prefetch_per_worker) * max(1, num_workers)
        self.timeout_s = timeout_s
        self._workers: _Workers | None = None

    def start(self) -> None:
        """Fork the workers now (the first epoch does it otherwise)."""
        if self.num_workers and self._workers is None:
            self._workers = _Workers(self.dataset, self.collate, self.num_workers, self.seed)

    def close(self) -> None:
        """End the workers (a later epoch forks new ones)."""
        if self._workers is not None:
            self._workers.stop()
            self._workers = None

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def epoch(self, batches: Iterable[list[Item]]) -> Iterator[Any]:
        """The collated batches, in the order of ``batches``."""
        if self.num_workers == 0:
            for items in batches:
                yield build_batch(self.dataset, self.collate, items)
            return
        self.start()
        finished = False
        try:
            yield from self._in_order(iter(batches), self._workers)
            finished = True
        finally:
            # left early, batches of this epoch may still be on their way: none of them may reach the next epoch
            if not finished:
                self.close()

    def _in_order(self, batches: Iterator, workers: _Workers) -> Iterator[Any]:
        tasks, results = workers.tasks, workers.results
        sent = delivered = 0
        arrived: dict[int, tuple[bool, Any]] = {}

        def submit() -> None:
            nonlocal sent
            items = next(batches, None)
            if items is not None:
                tasks.put((sent, items))
                sent += 1

        for _ in range(self.prefetch):
            submit()
        while delivered < sent:
            waited = 0.0
            while delivered not in arrived:
                try:
                    number, ok, payload = results.get(timeout=1.0)
                except queue.Empty:
                    waited += 1.0
                    dead = [(i, w.exitcode) for i, w in enumerate(workers.processes) if not w.is_alive()]
                    if dead:
                        raise DataWorkerError(
                            f"data worker {dead[0][0]} died (exit code {dead[0][1]}); "
                            "out of memory? try fewer trainer.num_workers or a smaller trainer.batch_size"
                        ) from None
                    if waited >= self.timeout_s:
                        raise DataWorkerError(
                            f"no training batch for {self.timeout_s:.0f} s: is a data file stuck on a slow mount?"
                        ) from None
                    continue
                arrived[number] = (ok, payload)
            ok, payload = arrived.pop(delivered)
            delivered += 1
            if isinstance(payload, _RemoteError):  # the traceback shows the worker's side as the cause
                where = DataWorkerError(
                    f"in a data worker, building samples {payload.indices}:\n{payload.trace}"
                )
                raise payload.rebuild() from where
            if not ok:
                raise payload
            submit()
            yield payload
