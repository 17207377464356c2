"""Data-parallel training over processes: the launch and what keeps the ranks in step.

``python -m ocrtrain.train ... trainer.nproc=2`` (CPU) or ``device=gpu:0,1`` (one process per listed device) makes
the command a launcher: it picks the one run directory, starts the ranks through ``paddle.distributed.launch``
(its logs go to ``<run dir>/launch/``; rank 0's output is streamed), forwards Ctrl-C / SIGTERM, and exits like a
single-process run: 0, 130/143 after a signal, or the failing rank's ``error: ...`` line and status.

The ranks talk through gloo (CPU) or NCCL (GPU). Gloo gives up on a collective after a fixed 30 s, so no rank may
enter one while rank 0 works alone for longer (evaluation, checkpoints): the others wait for rank 0 in
:meth:`RankSync.wait_for_main`, polling paddle's TCP store, which has no such limit. A rank that fails is noticed
by the launcher, which stops the others: nobody waits forever.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ocrtrain.devices import Device, check_device, parse_device

RUN_DIR_ENV = "OCRTRAIN_RUN_DIR"  # set by the launcher for its ranks: the run directory they share
LAUNCH_SUBDIR = "launch"  # paddle's launcher logs (workerlog.N) and each rank's exit status
SIGNAL_EXITS = (128 + signal.SIGINT, 128 + signal.SIGTERM)


@dataclass(frozen=True)
class Plan:
    """How many processes train, on which device kind and device numbers (none on CPU)."""

    world_size: int
    kind: str = "cpu"
    device_ids: tuple[int, ...] = ()


def cpu_parallel_hint(the_plan: Plan, cores: int | None = None) -> str | None:
    """A note for one training process on a CPU of several cores: data-parallel processes of one thread each use
    them better than one process's threads (README, "Benchmarks"). None where it does not apply."""
    cores = len(os.sched_getaffinity(0)) if cores is None else cores
    if the_plan.kind != "cpu" or the_plan.world_size > 1 or cores < 2:
        return None
    return (
        f"training in one process on {cores} CPU cores: trainer.nproc=2 with half the trainer.batch_size trains the "
        "same global batch in two data-parallel processes, measured 1.3-1.4x (rec) to 1.5x (det) the samples/s of one "
        "process on 2 cores (each process holds its own model: 3-4 GB peak)"
    )


def plan(device_spec: str | None, nproc: int | None) -> Plan:
    """The processes ``device`` and ``trainer.nproc`` ask for; a device the installed paddle lacks is an error."""
    text = (device_spec or "cpu").strip().lower()
    kind, _, ids = text.partition(":")
    if "," not in ids:  # one device: cpu, gpu, gpu:1
        device = parse_device(text)
        if device.kind == "cpu":
            return Plan(nproc or 1)
        if (nproc or 1) > 1:
            raise ValueError(
                f"trainer.nproc={nproc} with device={device_spec}: list one device per process, "
                f"e.g. device={device.kind}:{','.join(str(i) for i in range(nproc))}"
            )
        check_device(device)
        return Plan(1, device.kind, (device.index,))
    devices = [parse_device(f"{kind}:{i.strip()}") for i in ids.split(",")]
    if kind == "cpu":
        raise ValueError(f"invalid device {device_spec!r}: the cpu takes no index (use trainer.nproc=N)")
    for device in devices:
        check_device(device)
    if nproc not in (None, len(devices)):
        raise ValueError(
            f"trainer.nproc={nproc} but device={device_spec} lists {len(devices)} devices: one process per device"
        )
    if len({d.index for d in devices}) != len(devices):
        raise ValueError(f"device={device_spec}: a device is listed twice")
    return Plan(len(devices), kind, tuple(d.index for d in devices))


def rank_device(device_spec: str | None) -> Device:
    """This process' device: ``device`` itself, or in a launched rank the device the launcher gave it."""
    text = (device_spec or "cpu").strip().lower()
    if "," not in text:
        return parse_device(text)
    kind = text.partition(":")[0]
    key = "FLAGS_selected_gpus" if kind in ("gpu", "dcu") else f"FLAGS_selected_{kind}s"
    return Device(kind, int(os.environ[key].split(",")[0]))


def launched_rank() -> bool:
    """True in a rank this module's launcher started."""
    return RUN_DIR_ENV in os.environ


def _hydra_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _die_with_parent() -> None:
    """In the launcher process: end it if the training command that started it dies (Linux)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def launch(the_plan: Plan, run_dir: Path, overrides: list[str], config_name: str = "train") -> int:
    """Run ``python -m ocrtrain.train <overrides>`` as ``the_plan.world_size`` ranks sharing ``run_dir``; returns
    the exit status the command should end with (after printing a failing rank's ``error:`` lines to stderr)."""
    run_dir = Path(run_dir).resolve()
    log_dir = run_dir / LAUNCH_SUBDIR
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("exit.*"):  # a resumed run launches again into the same directory
        old.unlink()
    logs = RankLogs(log_dir, the_plan.world_size)  # paddle appends to the logs of earlier launches
    command = [sys.executable, "-m", "paddle.distributed.launch", "--log_dir", str(log_dir)]
    command += ["--nproc_per_node", str(the_plan.world_size)]
    if the_plan.device_ids:
        command += ["--devices", ",".join(str(i) for i in the_plan.device_ids)]
    command += [sys.executable, "-u", "-m", "ocrtrain.train", f"--config-name={config_name}", *overrides]
    command += [f"hydra.run.dir={_hydra_quoted(str(run_dir))}", "hydra.output_subdir=null"]
    env = {**os.environ, RUN_DIR_ENV: str(run_dir)}
    if the_plan.kind == "cpu":
        env["PADDLE_DISTRI_BACKEND"] = "gloo"  # CPU ranks even where paddle's launcher would pick GPUs
        cores = len(os.sched_getaffinity(0))  # shared out: one intra-op thread per rank on a 2-core machine
        env.setdefault("OMP_NUM_THREADS", str(max(1, cores // the_plan.world_size)))
    received: list[int] = []
    with open(log_dir / "launcher.log", "w") as launcher_log:
        # a session of its own: a terminal's Ctrl-C reaches the ranks once, through the launcher
        proc = subprocess.Popen(
            command, env=env, stderr=launcher_log, start_new_session=True, preexec_fn=_die_with_parent
        )

        def forward(signum: int, _frame: Any) -> None:
            if not received:  # a second signal would make paddle's launcher kill the ranks at once
                proc.send_signal(signal.SIGTERM)
            received.append(signum)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            proc.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    if received:  # the launcher stops streaming rank 0's log when signalled: its last words
        print("\n".join(line for line in logs.lines(0) if line.startswith("stopping: ")), flush=True)
        return 128 + received[0]
    return _outcome(log_dir, logs, proc.returncode)


class RankLogs:
    """The lines each rank wrote to its ``workerlog.<rank>`` in this launch."""

    def __init__(self, log_dir: Path, world_size: int) -> None:
        self.paths = [log_dir / f"workerlog.{rank}" for rank in range(world_size)]
        self.starts = [p.stat().st_size if p.is_file() else 0 for p in self.paths]

    def lines(self, rank: int) -> list[str]:
        path = self.paths[rank]
        if not path.is_file():
            return []
        with open(path, "rb") as f:
            f.seek(self.starts[rank])
            return f.read().decode(errors="replace").splitlines()


def _outcome(log_dir: Path, logs: RankLogs, launcher_status: int) -> int:
    codes: dict[int, int | None] = {}
    ended: dict[int, float] = {}
    for rank in range(len(logs.paths)):
        path = log_dir / f"exit.{rank}"
        codes[rank] = int(path.read_text()) if path.is_file() else None
        ended[rank] = path.stat().st_mtime if path.is_file() else math.inf
    if launcher_status == 0 and all(code == 0 for code in codes.values()):
        return 0

    # the rank that failed on its own comes first; the launcher then stopped the others (signal, kill, or a
    # collective that lost its peer)
    failed = sorted((r for r, code in codes.items() if code not in (0, None, *SIGNAL_EXITS)), key=ended.get)
    for rank in failed:
        if errors := [line for line in logs.lines(rank) if line.startswith("error: ")]:
            print("\n".join(dict.fromkeys(errors)), file=sys.stderr)
            return codes[rank] or 1
    rank = failed[0] if failed else next((r for r, code in codes.items() if code != 0), 0)
    lines = [line.strip() for line in logs.lines(rank) if line.strip()]
    last = next(
        (line for line in reversed(lines) if "Error" in line.split(":")[0]), lines[-1] if lines else ""
    )
    print(
        f"error: data-parallel training failed: rank {rank} exited with status {codes[rank]} "
        f"(launcher status {launcher_status}): {last[:500]}; its log: {logs.paths[rank]}",
        file=sys.stderr,
    )
    return 1


@contextmanager
def exit_status_recorded() -> Iterator[None]:
    """In a launched rank: write the status the process exits with to ``<run dir>/launch/exit.<rank>``."""
    if not launched_rank():
        yield
        return
    path = Path(os.environ[RUN_DIR_ENV]) / LAUNCH_SUBDIR / f"exit.{os.environ.get('PADDLE_TRAINER_ID', '0')}"
    code: Any = 1
    try:
        yield
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        raise
    finally:
        path.write_text(str(code))


def quiet_other_ranks() -> None:
    """Ranks other than 0 keep their console log (their workerlog) but leave the run's ``train.log`` to rank 0."""
    import logging

    if os.environ.get("PADDLE_TRAINER_ID", "0") == "0":
        return
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(handler)
        handler.close()


class OutOfSync(RuntimeError):
    """The ranks of a data-parallel run hold different parameters."""


class RankSync:
    """What the ranks of one run agree on, besides the gradients DataParallel averages."""

    POLL_S = 0.02

    def __init__(self) -> None:
        import paddle.distributed as dist
        from paddle.base import core

        self.dist = dist
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.store = core.create_or_get_global_tcp_store()
        self._phase = 0
        self.confirmed = False

    def main_finished(self, outcome: str = "") -> None:
        """Rank 0, after working alone: releases the others with ``outcome`` ("" = carry on)."""
        key = f"ocrtrain/phase/{self._phase}"
        self._phase += 1
        self.store.set(f"{key}/outcome", outcome.encode())
        self.store.add(key, 1)

    def wait_for_main(self) -> str:
        """The other ranks: wait (without gloo's 30 s limit) until rank 0 calls :meth:`main_finished`."""
        key = f"ocrtrain/phase/{self._phase}"
        self._phase += 1
        while self.store.add(key, 0) < 1:
            time.sleep(self.POLL_S)
        return self.store.get(f"{key}/outcome").decode()

    def any_rank(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any (e.g. a signal that reached one rank)."""
        import paddle

        value = paddle.to_tensor([int(flag)], dtype="int32")
        self.dist.all_reduce(value, op=self.dist.ReduceOp.MAX)
        return bool(value.item())

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over ranks of each value (every rank passes the same keys)."""
        import paddle

        names = sorted(values)
        total = paddle.to_tensor([float(values[n]) for n in names], dtype="float64")
        self.dist.all_reduce(total)
        return dict(zip(names, (total.numpy() / self.world_size).tolist(), strict=True))

    def average_norm_statistics(self, model: Any) -> None:
        """Training BatchNorm: each rank's running statistics follow its own shard; all take their mean."""
        import paddle

        for layer in model.sublayers():
            if isinstance(layer, paddle.nn.layer.norm._BatchNormBase) and layer.training:
                for stat in (layer._mean, layer._variance):
                    self.dist.all_reduce(stat)
                    stat.set_value(stat / self.world_size)

    def check_in_sync(self, model: Any, step: int) -> None:
        """Every rank must hold the same weights: compares a digest of all of them; raises :class:`OutOfSync`."""
        import paddle

        mine = parameters_digest(model)
        gathered: list[Any] = []
        self.dist.all_gather(gathered, paddle.to_tensor(np.frombuffer(mine, dtype=np.int64).copy()))
        digests = [bytes(t.numpy().tobytes()) for t in gathered]
        if len(set(digests)) != 1:
            differing = [r for r, d in enumerate(digests) if d != digests[0]]
            raise OutOfSync(
                f"step {step}: ranks {differing} hold other parameters than rank 0 (sha256 {digests[0].hex()[:12]} "
                f"vs {digests[differing[0]].hex()[:12]}): data-parallel training went wrong"
            )
        if not self.confirmed and self.rank == 0:
            print(
                f"ranks in sync: {self.world_size} ranks hold identical parameters at step {step}", flush=True
            )
        self.confirmed = True


def parameters_digest(model: Any) -> bytes:
    """sha256 over the model's state (parameters and buffers, by name)."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value.numpy()).tobytes())
    return digest.digest()
