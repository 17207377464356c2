"""Training throughput on CPU: samples/s, data loading vs compute, peak memory.

    python scripts/bench_train.py det [--steps 6] [--workers 2]     # batch 8 at 640x640 (DB, PP-OCRv4 mobile)
    python scripts/bench_train.py rec [--steps 6] [--workers 2]     # batch 64 at 48x320 (SVTR+CTC, PP-OCRv4 mobile)

Three measurements in one run, on the bundled real data:
  1. the data pipeline alone: the time to build a batch (read, augment, targets) divided by ``--workers``;
  2. compute alone: forward + backward + optimizer step on one fixed batch, repeated;
  3. the real loop: both together, as the trainer runs them.
The peer is compute: "data/compute" is how many times faster data arrives than the model consumes it; above 1.0
data loading is not the bottleneck.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETUPS = {
    "det": (["det=PP-OCRv4_mobile_det", "data=icdar2015_demo"], 8),
    "rec": (["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"], 64),
}


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child (data workers), in MB."""
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("task", choices=sorted(SETUPS))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import os

    import paddle

    from ocrtrain.config import compose
    from ocrtrain.engine.loader import BatchLoader
    from ocrtrain.engine.optim import build_optimizer
    from ocrtrain.engine.sampler import ResumableBatchSampler
    from ocrtrain.tasks import build_task

    os.chdir(REPO)  # the demo data configs are relative to the repository
    overrides, batch_size = SETUPS[args.task]
    cfg = compose("train", overrides)
    task = build_task(cfg)
    model = task.build_model()
    task.load_pretrained(model)
    model.train()
    optimizer, _ = build_optimizer(model, dict(cfg[task.kind].optimizer), batch_size, 1000)
    dataset = task.train_dataset()
    sampler = ResumableBatchSampler(len(dataset), batch_size, seed=0, drop_last=False)
    loader = BatchLoader(dataset, task.collate, args.workers, seed=0)  # what the trainer uses

    def batches():
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            yield from loader.epoch(sampler, epoch)
            epoch += 1

    # 1. data alone: building batches in this process (read, augment, targets, collate); the loader's
    # workers share this cost, so one batch costs about this divided by the number of workers
    stream = batches()
    first = next(stream)
    rng = random.Random(0)
    data_s = []
    for _ in range(args.steps):
        start = time.perf_counter()
        task.collate([dataset[rng.randrange(len(dataset))] for _ in range(batch_size)])
        data_s.append((time.perf_counter() - start) / max(args.workers, 1))

    # 2. compute alone, one fixed batch
    def step(batch) -> None:
        losses = task.loss(model, batch)
        losses["loss"].backward()
        optimizer.step()
        optimizer.clear_grad()

    step(first)  # warm-up
    compute_s = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step(first)
        compute_s.append(time.perf_counter() - start)

    # 3. the real loop
    start = time.perf_counter()
    for _ in range(args.steps):
        step(next(stream))
    loop_s = (time.perf_counter() - start) / args.steps

    n = len(first["image"])
    data_med, compute_med = statistics.median(data_s), statistics.median(compute_s)
    self_mb, child_mb = peak_rss_mb()
    shape = "x".join(str(d) for d in first["image"].shape[1:])
    print(
        f"{args.task}: batch {n} of {shape}, {args.steps} steps, {args.workers} workers, paddle {paddle.__version__}"
    )
    print(
        f"data pipeline alone : {data_med * 1000:8.1f} ms/batch  ({n / data_med:7.1f} samples/s with {args.workers} workers)"
    )
    print(f"compute alone       : {compute_med * 1000:8.1f} ms/batch  ({n / compute_med:7.1f} samples/s)")
    print(f"training loop       : {loop_s * 1000:8.1f} ms/batch  ({n / loop_s:7.1f} samples/s)")
    print(
        f"data/compute ratio  : {compute_med / data_med:.2f}x (above 1.0: data loading is not the bottleneck)"
    )
    print(f"peak memory         : {self_mb:.0f} MB main process, {child_mb:.0f} MB largest worker")


if __name__ == "__main__":
    main()
