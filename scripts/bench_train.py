"""Training throughput on CPU: samples/s, achieved GFLOP/s vs the CPU's peak, data wait, peak memory, and the ratio
to a baseline git ref measured in the same invocation.

    python scripts/bench_train.py det [--steps 3] [--repeat 3] [--workers 2] [--baseline 3d73e92]
    python scripts/bench_train.py rec [--steps 3] [--repeat 3] [--workers 2] [--baseline 3d73e92]
    python scripts/bench_train.py det|rec --parallel     # 1 process x 1 thread, 1 x 2 threads, 2 processes x 1
    python scripts/bench_train.py det|rec --parallel --baseline <ref>   # ... against <ref> in one process
    python scripts/bench_train.py rec rec.gtc.enabled=true --baseline <ref>   # config overrides, both trees

det: batch 8 at 640x640 (DB, PP-OCRv4 mobile); rec: batch 64 at 48x320 (SVTR+CTC, PP-OCRv4 mobile), on the bundled
real data. Every repetition is a fresh process; with ``--baseline`` the ref is checked out in a temporary
``git worktree`` (its C kernels built) and its processes alternate with this tree's (the machine may be shared:
figures are medians, and the ratio compares runs interleaved in time). Each process measures:
  compute: forward + backward + optimizer step on one fixed batch, ``--steps`` times after a warm-up;
  loop: the same with batches from the trainer's loader (``--workers`` processes), with the share of time spent
        waiting for data; samples/s counts the samples actually delivered.
With ``--parallel`` each tree is measured in three set-ups of the same global batch: one process with one intra-op
thread (``OMP_NUM_THREADS``), one process with two, and two data-parallel processes of half the batch with one thread
each under ``paddle.distributed.launch`` (gloo, as ``trainer.nproc=2`` trains); peak RSS is summed over the ranks.
FLOPs of a step: the multiply-adds of the convolutions and linear layers in the model's inference forward (not
attention's matmuls nor elementwise ops), counted with forward hooks, x 2 FLOPs each x 3 for forward + backward (the
backward computes two products per forward product: the input's and the weights' gradients).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETUPS = {
    "det": (["det=PP-OCRv4_mobile_det", "data=icdar2015_demo"], 8),
    "rec": (["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"], 64),
}


def cpu_peak_gflops() -> tuple[float, str]:
    """fp32 peak of the cores this process may use: cores x clock x FLOPs per cycle (one 512-bit or two 256-bit
    FMA units: 32; otherwise 16)."""
    cores = len(os.sched_getaffinity(0))
    mhz, flags = 0.0, set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "cpu MHz":
                mhz = max(mhz, float(value))
            elif key.strip() == "flags":
                flags = set(value.split())
    per_cycle = 32 if {"avx512f"} & flags or {"avx2", "fma"} <= flags else 16
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return (
        cores * mhz / 1000 * per_cycle,
        f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOP/cycle ({isa})",
    )


def step_gflop(model, input_shape: list[int]) -> float:
    """GFLOP of one training step: 2 x the multiply-adds of the convolutions and linear layers in a forward of
    ``input_shape``, x 3 for forward + backward."""
    import numpy as np
    import paddle
    from paddle import nn

    macs = []

    def count(layer, inputs, output) -> None:
        if isinstance(layer, nn.Conv2DTranspose):
            kernel_macs = int(np.prod(layer.weight.shape[1:]))  # in x (out / groups) x k x k
            macs.append(int(np.prod(inputs[0].shape)) * kernel_macs)
        else:
            fan_in = (
                int(np.prod(layer.weight.shape[1:]))
                if isinstance(layer, nn.Conv2D)
                else layer.weight.shape[0]
            )
            macs.append(int(np.prod(output.shape)) * fan_in)

    layers = [m for m in model.sublayers() if isinstance(m, (nn.Conv2D, nn.Conv2DTranspose, nn.Linear))]
    hooks = [m.register_forward_post_hook(count) for m in layers]
    with paddle.no_grad():
        model(paddle.randn(input_shape))
    for hook in hooks:
        hook.remove()
    return sum(macs) * 2 * 3 / 1e9


def measure(
    tree: Path, task_name: str, steps: int, workers: int, count_flops: bool, overrides: list[str]
) -> dict[str, float]:
    """One repetition in this process (or this rank of a data-parallel launch), with ``ocrtrain`` from ``tree``."""
    sys.path.insert(0, str(tree))
    os.chdir(tree)  # the demo data configs are relative to the repository
    import ocrtrain
    from ocrtrain.config import compose
    from ocrtrain.engine import trainer
    from ocrtrain.engine.loader import BatchLoader
    from ocrtrain.engine.optim import build_optimizer
    from ocrtrain.engine.sampler import ResumableBatchSampler
    from ocrtrain.tasks import build_task

    assert Path(ocrtrain.__file__).resolve().is_relative_to(tree.resolve()), ocrtrain.__file__
    import paddle

    with contextlib.suppress(ImportError):  # as the trainer starts (trees before it measure without)
        from ocrtrain.engine.host_memory import keep_freed_memory

        keep_freed_memory()
    rank, world = paddle.distributed.get_rank(), paddle.distributed.get_world_size()
    if world > 1:
        paddle.distributed.init_parallel_env()
    setup, batch_size = SETUPS[task_name]
    cfg = compose("train", [*setup, *overrides])
    task = build_task(cfg)
    model = task.build_model()
    task.load_pretrained(model)
    optimizer, _ = build_optimizer(model, dict(cfg[task.kind].optimizer), batch_size, 1000)
    dataset = task.train_dataset()
    sampler = ResumableBatchSampler(
        len(dataset), batch_size // world, seed=0, drop_last=False, rank=rank, world_size=world
    )
    loader = BatchLoader(dataset, task.collate, workers, seed=0)  # what the trainer uses
    train_model = paddle.DataParallel(model) if world > 1 else model

    def batches():
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            yield from loader.epoch(sampler)
            epoch += 1

    def step(batch) -> None:
        losses = task.loss(train_model, batch)
        losses["loss"].backward()
        optimizer.step()
        optimizer.clear_grad()

    stream = batches()
    fixed = next(stream)
    result = {"gflop": 0.0}
    if count_flops:
        model.eval()
        result["gflop"] = step_gflop(model, list(fixed["image"].shape)) * world
    trainer.set_train_mode(model, cfg.trainer.freeze_norm)
    step(fixed)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step(fixed)
    result["compute_s"] = (time.perf_counter() - start) / steps

    samples, waited = 0, 0.0
    start = time.perf_counter()
    for _ in range(steps):
        mark = time.perf_counter()
        batch = next(stream)
        waited += time.perf_counter() - mark
        step(batch)
        samples += len(batch["image"]) * world
    loop_s = time.perf_counter() - start
    stream.close()
    result.update(
        batch=batch_size,
        loop_samples_per_s=samples / loop_s,
        data_wait_share=waited / loop_s,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        worker_peak_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        # the MKL code path this process ran (set by `import ocrtrain` on AMD processors in newer trees)
        mkl_cpu_type=os.environ.get("MKL_DEBUG_CPU_TYPE"),
    )
    return result


# name: (processes, intra-op threads per process); None = paddle's default
SETS = {"1 process": (1, None)}
PARALLEL_SETS = {"1 proc x 1 thr": (1, 1), "1 proc x 2 thr": (1, 2), "2 proc x 1 thr": (2, 1)}


def run_once(
    tree: Path, args: argparse.Namespace, count_flops: bool, processes: int, threads: int | None
) -> dict:
    """One repetition in fresh processes; data parallel: the ranks' figures combined (slowest step, summed RSS)."""
    script = [
        str(Path(__file__).resolve()),
        args.task,
        *args.overrides,
        "--steps",
        str(args.steps),
        "--workers",
        str(args.workers),
    ]
    script += ["--measure", str(tree)] + (["--flops"] * count_flops)
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    with tempfile.TemporaryDirectory(prefix="bench_train_out_") as out:
        script += ["--out", out]
        if processes == 1:
            command = [sys.executable, *script]
        else:
            command = [sys.executable, "-m", "paddle.distributed.launch", "--log_dir", f"{out}/log"]
            command += ["--nproc_per_node", str(processes), *script]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        ranks = [json.loads(p.read_text()) for p in sorted(Path(out).glob("rank*.json"))]
        logs = "".join(p.read_text()[-2000:] for p in Path(out).glob("log/workerlog.*"))
    if done.returncode != 0 or len(ranks) != processes:
        sys.exit(f"error: the benchmark of {tree} failed:\n{done.stderr[-4000:]}{logs}")
    combined = dict(ranks[0])
    combined["compute_s"] = max(r["compute_s"] for r in ranks)
    combined["loop_samples_per_s"] = min(r["loop_samples_per_s"] for r in ranks)
    for key in ("peak_rss_mb", "worker_peak_rss_mb"):
        combined[key] = sum(r[key] for r in ranks)
    return combined


def summary(name: str, runs: list[dict[str, float]], gflop: float, peak: float) -> dict[str, float]:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k not in ("gflop", "mkl_cpu_type")}
    times = ", ".join(f"{r['compute_s']:.2f}" for r in runs)
    sps = med["batch"] / med["compute_s"]
    achieved = gflop / med["compute_s"]
    print(
        f"{name:>10}: compute {med['compute_s']:6.2f} s/step = {sps:6.2f} samples/s"
        f" ({achieved:5.1f} GFLOP/s, {achieved / peak:5.1%} of peak); loop {med['loop_samples_per_s']:6.2f} samples/s,"
        f" data wait {med['data_wait_share']:5.1%}; peak RSS {med['peak_rss_mb'] / 1024:.2f} GB"
        f" (+ {med['worker_peak_rss_mb'] / 1024:.2f} GB largest worker per process)"
        f"  [compute s/step: {times}]"
    )
    return {"samples_per_s": sps, "loop_samples_per_s": med["loop_samples_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("task", choices=sorted(SETUPS))
    parser.add_argument(
        "overrides", nargs="*", help="config overrides for both trees, e.g. rec.gtc.enabled=true"
    )
    parser.add_argument(
        "--steps", type=int, default=3, help="timed steps per repetition (compute and loop each)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="processes per tree")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--baseline", help="git ref to compare with, measured interleaved in a temporary worktree"
    )
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="1 process x 1 thread, 1 x 2 threads and 2 data-parallel processes x 1 thread, interleaved",
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one repetition (internal)
    parser.add_argument("--flops", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)  # where each rank writes its figures
    args = parser.parse_args()
    if args.measure:
        result = measure(args.measure, args.task, args.steps, args.workers, args.flops, args.overrides)
        if args.out is None:  # a driver that reads the figures from stdout
            print(json.dumps(result))
        else:
            (args.out / f"rank{os.environ.get('PADDLE_TRAINER_ID', '0')}.json").write_text(json.dumps(result))
        return

    peak, how = cpu_peak_gflops()
    with contextlib.ExitStack() as stack:
        trees = {"this tree": REPO}
        if args.baseline:
            worktree = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_train_"))) / "tree"
            git = ["git", "-C", str(REPO)]
            subprocess.run([*git, "worktree", "add", "--detach", str(worktree), args.baseline], check=True)
            stack.callback(subprocess.run, [*git, "worktree", "remove", "--force", str(worktree)], check=True)
            if (worktree / "setup.py").exists():  # the ref's own C kernels, as its install would build them
                build = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
                subprocess.run(build, cwd=worktree, check=True, stdout=subprocess.DEVNULL)
            trees[args.baseline] = worktree
        sets = PARALLEL_SETS if args.parallel else SETS
        first = next(iter(sets))
        runs: dict[str, list[dict[str, float]]] = {}
        loads = [os.getloadavg()[0]]
        for rep in range(args.repeat):
            for tree_name, tree in trees.items():
                for set_name, (processes, threads) in sets.items():
                    if tree_name != "this tree" and processes > 1:
                        continue  # the baseline trains in one process (its tree may not launch ranks)
                    name = tree_name if len(sets) == 1 else f"{tree_name}, {set_name}"
                    flops = rep == 0 and tree_name == "this tree" and set_name == first
                    runs.setdefault(name, []).append(run_once(tree, args, flops, processes, threads))
                    loads.append(os.getloadavg()[0])
                    last = runs[name][-1]
                    mkl = last.get("mkl_cpu_type")
                    print(
                        f"  repetition {rep + 1}/{args.repeat} {name}: {last['compute_s']:.2f} s/step"
                        f" (MKL_DEBUG_CPU_TYPE={mkl or 'unset'})"
                    )
    gflop = next(iter(runs.values()))[0]["gflop"]
    print(
        f"{args.task} {' '.join(args.overrides)}: batch {SETUPS[args.task][1]}, {args.steps} steps x {args.repeat}"
        " processes per tree,"
    )
    print(f"  {gflop:.0f} GFLOP per training step; CPU peak {peak:.0f} GFLOP/s fp32 = {how}")
    print(
        f"  machine load (1-min average, {os.cpu_count()} CPUs) during the runs: "
        f"{min(loads):.2f} to {max(loads):.2f}, median {statistics.median(loads):.2f}"
    )
    figures = {name: summary(name, result, gflop, peak) for name, result in runs.items()}

    def speedup(name: str, reference: dict[str, float]) -> str:
        return f"{name} {figures[f'this tree, {name}']['samples_per_s'] / reference['samples_per_s']:.2f}x"

    def ratios_to(reference: dict[str, float]) -> str:
        return ", ".join(speedup(name, reference) for name in sets)

    if args.parallel:
        print(
            f"this tree: compute samples/s relative to {first}: {ratios_to(figures[f'this tree, {first}'])}"
        )
        if args.baseline:
            reference = figures[f"{args.baseline}, {first}"]
            print(f"this tree vs {args.baseline} ({first}): compute samples/s {ratios_to(reference)}")
            same = ", ".join(
                speedup(name, figures[f"{args.baseline}, {name}"])
                for name, (processes, _) in sets.items()
                if processes == 1
            )
            print(f"this tree vs {args.baseline}, the same set-up: compute samples/s {same}")
    if args.baseline and not args.parallel:
        base = figures[args.baseline]
        ours = figures["this tree"]
        print(
            f"ratio vs {args.baseline}: compute {ours['samples_per_s'] / base['samples_per_s']:.2f}x,"
            f" loop {ours['loop_samples_per_s'] / base['loop_samples_per_s']:.2f}x samples/s"
        )


if __name__ == "__main__":
    main()
