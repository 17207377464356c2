"""The training loop shared by detection and recognition.

Everything task-specific (model, data, loss, evaluation) comes from a :class:`Task`; the loop owns the schedule,
checkpoints, resume at the exact global step, evaluation cadence, best-checkpoint selection, early stopping,
signals, progress and metric logging. A signal (Ctrl-C, SIGTERM) ends the run promptly in every phase: between
steps, while waiting for data and during evaluation (once paddle has finished tracing the eval program, which must
not be interrupted); the state of the last finished step is saved.

Data parallel (``trainer.nproc``, launched by :mod:`ocrtrain.engine.distributed`): every rank trains its shard of
each batch, rank 0 alone evaluates, logs and writes checkpoints while the others wait for it; the ranks agree on
stopping at a step boundary, log the mean of their losses and check that they hold identical weights at every
checkpoint and at the end.
"""

from __future__ import annotations

import json
import math
import random
import signal
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import paddle
from paddle.io import Dataset
from tqdm import tqdm

from ocrtrain.config_schema import (
    BOOLEAN,
    FRACTION_BELOW_ONE_OR_NULL,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    POSITIVE_INT_OR_NULL,
    field,
)
from ocrtrain.engine.checkpoint import find_checkpoint, load_checkpoint, read_state, save_checkpoint
from ocrtrain.engine.distributed import RankSync
from ocrtrain.engine.ema import EMA_FILE, WeightAverage
from ocrtrain.engine.freeze import MODULE_PATHS, Freezer
from ocrtrain.engine.host_memory import keep_freed_memory
from ocrtrain.engine.loader import BatchLoader
from ocrtrain.engine.optim import build_optimizer
from ocrtrain.engine.sampler import ResumableBatchSampler


class Task(Protocol):
    """What the loop needs to know about detection or recognition."""

    kind: str  # "det" | "rec"
    metric_name: str  # the metric that selects the best checkpoint ("hmean", "acc")

    def build_model(self) -> paddle.nn.Layer: ...
    def load_pretrained(self, model: paddle.nn.Layer) -> None: ...
    def train_dataset(self) -> Dataset: ...
    def dataset(self, split: str, mode: str) -> Dataset: ...
    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]: ...
    def loss(self, model: paddle.nn.Layer, batch: dict[str, Any]) -> dict[str, paddle.Tensor]: ...
    def dygraph_predictor(self, model: paddle.nn.Layer) -> Any: ...
    def eval_predictor(self, model: paddle.nn.Layer) -> Any: ...
    def evaluate(
        self, predict: Any, progress: bool = True, dataset: Dataset | None = None
    ) -> dict[str, Any]: ...
    def checkpoint_meta(self) -> tuple[dict[str, Any], dict[str, str]]: ...
    def check_resume(self, state: dict[str, Any]) -> None: ...


class Tracker(Protocol):
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...


@dataclass
class TrainerConfig:
    """The ``trainer`` config node; each field's rule is checked at start-up (:func:`ocrtrain.config_schema.validated`)."""

    epochs: int = field(10, POSITIVE_INT)
    max_steps: int | None = field(None, POSITIVE_INT_OR_NULL)  # stops earlier than epochs * steps_per_epoch
    batch_size: int = field(8, POSITIVE_INT)  # per device
    num_workers: int = field(2, NON_NEGATIVE_INT)  # 0: build batches in the training process
    log_every_steps: int | None = field(10, POSITIVE_INT_OR_NULL)  # None: only the last step
    eval_every_steps: int | None = field(None, POSITIVE_INT_OR_NULL)  # None: at the end of every epoch
    save_every_steps: int | None = field(
        100, POSITIVE_INT_OR_NULL
    )  # `latest` also after every eval and on exit
    early_stopping_patience: int | None = field(None, POSITIVE_INT_OR_NULL)  # evaluations without improvement
    # evaluate the starting weights before the first step: `best` is then never worse than where the run started
    eval_at_start: bool = field(False, BOOLEAN)
    seed: int = field(42, NON_NEGATIVE_INT)
    progress: bool = field(True, BOOLEAN)
    freeze_norm: bool = field(True, BOOLEAN)  # BatchNorm keeps (and uses) its pretrained running statistics
    nproc: int | None = field(None, POSITIVE_INT_OR_NULL)  # data-parallel processes; null: 1 per device
    freeze: tuple[str, ...] = field((), MODULE_PATHS)  # module paths that do not train (engine.freeze)
    unfreeze_at_step: int | None = field(None, POSITIVE_INT_OR_NULL)  # they train from this global step on
    # at every evaluation also score this many training samples (a fixed choice), loaded as the val split is: `fit/`
    # metrics; far above `eval/` is overfitting, both low and level is underfitting
    fit_samples: int | None = field(None, POSITIVE_INT_OR_NULL)
    # evaluate and keep as `best` an exponential moving average of the weights (engine.ema); e.g. 0.98
    ema_decay: float | None = field(None, FRACTION_BELOW_ONE_OR_NULL)
    # keep freed host memory in the process for the next step (engine.host_memory); false: lower peak RSS
    keep_freed_memory: bool = field(True, BOOLEAN)


def set_train_mode(model: paddle.nn.Layer, freeze_norm: bool) -> None:
    """``model.train()``; with ``freeze_norm`` the BatchNorm layers stay in eval mode.

    Small fine-tuning batches of augmented crops have other statistics than the full images seen at inference,
    so updating the running statistics can move the pretrained model away from what inference sees.
    """
    model.train()
    if freeze_norm:
        for layer in model.sublayers():
            if isinstance(layer, paddle.nn.layer.norm._BatchNormBase):
                layer.eval()


class Throughput:
    """Samples per second and the share of time spent waiting for data, over one logging window."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.start = self.mark = time.perf_counter()
        self.samples, self.data_s, self.compute_s = 0, 0.0, 0.0

    def waiting(self) -> None:
        self.mark = time.perf_counter()

    def data_ready(self) -> None:
        now = time.perf_counter()
        self.data_s, self.mark = self.data_s + now - self.mark, now

    def computed(self, samples: int) -> None:
        now = time.perf_counter()
        self.compute_s, self.mark = self.compute_s + now - self.mark, now
        self.samples += samples

    def take(self) -> dict[str, float]:
        """The window's figures; a new window starts."""
        elapsed = time.perf_counter() - self.start
        figures = {
            "samples_per_s": self.samples / max(elapsed, 1e-9),
            "data_time_share": self.data_s / max(self.data_s + self.compute_s, 1e-9),
        }
        self._reset()
        return figures


class StopTraining(Exception):
    """Raised inside the loop to end it cleanly (signal or early stopping)."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


class Trainer:
    def __init__(
        self,
        task: Task,
        cfg: TrainerConfig,
        optimizer_cfg: dict[str, Any],
        run_dir: Path,
        tracker: Tracker | None = None,
        resume: str | None = None,
    ) -> None:
        self.task, self.cfg, self.optimizer_cfg = task, cfg, optimizer_cfg
        self.run_dir = Path(run_dir)
        self.tracker = tracker
        self.resume = resume
        self.rank = paddle.distributed.get_rank()
        self.world_size = paddle.distributed.get_world_size()
        self.is_main = self.rank == 0
        self.sync: RankSync | None = None  # data parallel: set up once the process group exists
        self._stop_signal: int | None = None
        self._interruptible = False  # while waiting for data or evaluating, a signal stops the run at once
        self.history_file = self.run_dir / "metrics.jsonl"
        self._logged: set[tuple[int, str]] = set()  # (step, "train" | "eval") rows already in metrics.jsonl
        self.ema: WeightAverage | None = None
        self._fit_set: Dataset | None = None  # trainer.fit_samples: chosen at the first evaluation

    # ---- bookkeeping -------------------------------------------------------------------------------------------
    @staticmethod
    def _row_kind(metrics: dict[str, Any]) -> str:
        return "eval" if any(k.startswith("eval/") for k in metrics) else "train"

    def _read_logged(self) -> None:
        """A resumed run replays the steps after its checkpoint: rows the killed run already logged stay single."""
        if self.history_file.is_file():
            for line in self.history_file.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    self._logged.add((row["step"], self._row_kind(row)))

    def _log(self, metrics: dict[str, float], step: int) -> None:
        if not self.is_main or (step, self._row_kind(metrics)) in self._logged:
            return
        with open(self.history_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        if self.tracker is not None:
            self.tracker.log_metrics(metrics, step)

    def _state(self, **extra: Any) -> dict[str, Any]:
        meta, _ = self.task.checkpoint_meta()
        settings = {
            "world_size": self.world_size,
            "batch_size": self.cfg.batch_size,
            "ema_decay": self.cfg.ema_decay,
        }
        return {**meta, **extra, **settings}

    def _save(self, name: str, model: paddle.nn.Layer, optimizer: Any, state: dict[str, Any]) -> Path | None:
        """A checkpoint; one to resume from (with the optimizer) also holds the weight average."""
        if not self.is_main:
            return None
        _, files = self.task.checkpoint_meta()
        tensors = (
            {EMA_FILE: self.ema.state_dict()} if self.ema is not None and optimizer is not None else None
        )
        return save_checkpoint(self.run_dir / "checkpoints" / name, model, optimizer, state, files, tensors)

    def _evaluated_weights(self) -> AbstractContextManager[None]:
        """What evaluation scores and `best` keeps: the weight average when there is one."""
        return self.ema.swapped_in() if self.ema is not None else nullcontext()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stop_signal = signum
        if self._interruptible:
            raise StopTraining(f"received signal {signum}")

    def _signalled_stop(self, error: Exception) -> StopTraining | None:
        """The stop ``error`` stands for, if any. The handler raises StopTraining wherever Python code runs; native
        code it interrupts (paddle's static-graph tracing at the start of an evaluation, for one) may re-raise it
        as an error of its own, which after a signal in an interruptible phase is that stop."""
        if isinstance(error, StopTraining):
            return error
        if self._interruptible and self._stop_signal is not None:
            return StopTraining(f"received signal {self._stop_signal}")
        return None

    def fit(self) -> dict[str, Any]:
        """Train; returns the final state (global step, best metric and where the best checkpoint is)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self._interruptible = True
        try:
            return self._fit()
        except Exception as error:  # before training started: nothing to save
            stop = self._signalled_stop(error)
            if stop is None:
                raise
            if self.is_main:
                print(f"stopping: {stop}")
            raise SystemExit(128 + (self._stop_signal or signal.SIGTERM)) from None
        finally:
            self._interruptible = False
            for s, handler in previous.items():
                signal.signal(s, handler)

    # ---- the loop -----------------------------------------------------------------------------------------------
    def _fit(self) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.keep_freed_memory:  # a step re-uses the previous step's pages instead of faulting in new ones
            keep_freed_memory()
        seed_everything(cfg.seed + self.rank)
        if self.world_size > 1:
            paddle.distributed.init_parallel_env()
            self.sync = RankSync()
        self.run_dir.mkdir(parents=True, exist_ok=True)

        model = self.task.build_model()
        dataset = self.task.train_dataset()
        sampler = ResumableBatchSampler(
            len(dataset), cfg.batch_size, seed=cfg.seed, rank=self.rank, world_size=self.world_size
        )
        loader = BatchLoader(dataset, self.task.collate, cfg.num_workers, seed=cfg.seed)
        steps_per_epoch = len(sampler)
        total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps:
            total_steps = min(total_steps, cfg.max_steps)
        optimizer, scheduler = build_optimizer(
            model, self.optimizer_cfg, cfg.batch_size * self.world_size, total_steps
        )

        state = {"global_step": 0, "epoch": 0, "step_in_epoch": 0, "best_metric": None, "best_step": None}
        state.update(evals_without_improvement=0, eval_pending=False)
        if self.resume:
            checkpoint = find_checkpoint(Path(self.resume))
            saved = read_state(checkpoint)
            self.task.check_resume(saved)
            if saved.get("world_size", 1) != self.world_size:  # the shards, schedule and lr depend on it
                raise ValueError(
                    f"{checkpoint}: trained by {saved.get('world_size', 1)} process(es), resumed with "
                    f"{self.world_size}: set trainer.nproc (or the device list) as the run had it"
                )
            # the position in the epoch counts batches of the run's size (checkpoints before this record no size)
            if saved.get("batch_size", cfg.batch_size) != cfg.batch_size:
                raise ValueError(
                    f"{checkpoint}: trained with trainer.batch_size={saved['batch_size']}, resumed with "
                    f"{cfg.batch_size}: set it as the run had it (the epoch continues after "
                    f"{saved.get('step_in_epoch', 0)} batches of {saved['batch_size']})"
                )
            if saved.get("ema_decay") != cfg.ema_decay:
                raise ValueError(
                    f"{checkpoint}: trained with trainer.ema_decay={saved.get('ema_decay')}, resumed with "
                    f"{cfg.ema_decay}: set it as the run had it"
                )
            state.update(
                {k: v for k, v in load_checkpoint(checkpoint, model, optimizer).items() if k in state}
            )
            self._read_logged()
            if self.is_main:
                print(
                    f"resumed from {checkpoint} at global step {state['global_step']} (epoch {state['epoch']})"
                )
        else:
            self.task.load_pretrained(model)
        if cfg.ema_decay is not None:
            self.ema = WeightAverage(model, cfg.ema_decay)
            if self.resume:
                self.ema.load(checkpoint / EMA_FILE)
        self.freezer = Freezer(model, cfg.freeze, cfg.unfreeze_at_step, self.world_size)
        self.freezer.apply(state["global_step"])  # before DataParallel sees which parameters train
        if self.world_size > 1:
            model = paddle.DataParallel(model)
        train_model = model
        bare_model = model._layers if isinstance(model, paddle.DataParallel) else model

        bar = tqdm(
            total=total_steps,
            initial=state["global_step"],
            disable=not (cfg.progress and self.is_main),
            desc=f"train {self.task.kind}",
            dynamic_ncols=True,
        )
        eval_every = cfg.eval_every_steps or steps_per_epoch
        # data parallel: a signal is agreed on at the next step boundary
        self._interruptible = self.sync is None
        loader.start()  # forked before the first evaluation and step grow this process's heap
        try:
            self._loop(
                train_model,
                bare_model,
                loader,
                sampler,
                optimizer,
                scheduler,
                state,
                total_steps,
                eval_every,
                bar,
            )
        except Exception as error:
            stop = self._signalled_stop(error)
            if stop is None:
                raise
            self._interruptible = False
            if self.is_main:
                print(f"stopping: {stop}; saving the state of step {state['global_step']}")
        finally:
            loader.close()
            bar.close()
        # only a loop that ended normally saves here: after a crash, `latest` keeps the last good state
        self._check_in_sync(bare_model, state)
        self._save("latest", bare_model, optimizer, self._state(**state, total_steps=total_steps))
        if self.is_main:
            self._plot_history()
        if self._stop_signal is not None:
            # a signalled run exits like an interrupted process, after its checkpoint is safe
            raise SystemExit(128 + self._stop_signal)
        return {
            **state,
            "total_steps": total_steps,
            "best_checkpoint": str(self.run_dir / "checkpoints" / "best"),
        }

    def _batches(
        self, loader: BatchLoader, sampler: ResumableBatchSampler, state: dict[str, Any]
    ) -> Iterator[Any]:
        """Batches from the run's position on, epoch after epoch; waiting for one can be interrupted by a signal."""
        while True:
            sampler.set_epoch(state["epoch"], state["step_in_epoch"])
            with closing(loader.epoch(sampler)) as batches:
                while True:
                    self._interruptible = self.sync is None  # data parallel: the ranks stop together
                    batch = next(batches, None)
                    self._interruptible = False
                    if batch is None:
                        break
                    yield batch
            state["epoch"] += 1
            state["step_in_epoch"] = 0

    def _step(
        self, model: paddle.nn.Layer, batch: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]
    ) -> tuple[dict[str, paddle.Tensor], float]:
        """One optimizer step; returns the losses and the learning rate it used."""
        if self.freezer.apply(state["global_step"]):
            set_train_mode(model, self.cfg.freeze_norm)
        losses = self.task.loss(model, batch)
        losses["loss"].backward()
        optimizer.step()
        optimizer.clear_grad()
        if self.ema is not None:
            self.ema.update(state["global_step"])
        lr = optimizer.get_lr()
        scheduler.step()
        state["global_step"] += 1
        state["step_in_epoch"] += 1
        loss_value = float(losses["loss"])
        if not math.isfinite(loss_value):
            raise FloatingPointError(
                f"loss is {loss_value} at step {state['global_step']}: lower the learning rate"
            )
        return losses, lr

    def _loop(
        self,
        model: paddle.nn.Layer,
        bare_model: paddle.nn.Layer,
        loader: BatchLoader,
        sampler: ResumableBatchSampler,
        optimizer: Any,
        scheduler: Any,
        state: dict[str, Any],
        total_steps: int,
        eval_every: int,
        bar: tqdm,
    ) -> None:
        cfg = self.cfg
        if state["eval_pending"] or (cfg.eval_at_start and state["global_step"] == 0):
            self._evaluate(
                bare_model, optimizer, state, total_steps
            )  # (pending: stopped during this evaluation)
        if state["global_step"] >= total_steps:
            return
        set_train_mode(model, cfg.freeze_norm)
        speed = Throughput()
        with closing(self._batches(loader, sampler, state)) as batches:
            for batch in batches:
                speed.data_ready()
                losses, lr = self._step(model, batch, optimizer, scheduler, state)
                speed.computed(len(batch["image"]) * self.world_size)
                step = state["global_step"]
                bar.update(1)
                if (cfg.log_every_steps and step % cfg.log_every_steps == 0) or step == total_steps:
                    metrics = {k: float(v) for k, v in losses.items()}
                    if self.sync is not None:
                        metrics = self.sync.mean(metrics)
                    metrics.update(lr=lr, **speed.take(), epoch=state["epoch"])
                    self._log(metrics, step)
                    bar.set_postfix(
                        loss=f"{metrics['loss']:.4f}", lr=f"{lr:.2e}", sps=f"{metrics['samples_per_s']:.1f}"
                    )
                if step % eval_every == 0 or step == total_steps:
                    self._check_in_sync(bare_model, state)
                    self._evaluate(bare_model, optimizer, state, total_steps)
                    set_train_mode(model, cfg.freeze_norm)
                elif cfg.save_every_steps and step % cfg.save_every_steps == 0:
                    self._check_in_sync(bare_model, state)
                    self._save("latest", bare_model, optimizer, self._state(**state, total_steps=total_steps))
                    self._main_finished()
                if self._stop_requested():
                    raise StopTraining(f"received signal {self._stop_signal}")  # _fit saves this step
                if step >= total_steps:
                    return
                speed.waiting()

    def _stop_requested(self) -> bool:
        """A signal reached this process (data parallel: any rank), so every rank stops after this step."""
        if self.sync is None:
            return self._stop_signal is not None
        stop = self.sync.any_rank(self._stop_signal is not None)
        if stop and self._stop_signal is None:
            self._stop_signal = signal.SIGTERM
        return stop

    def _main_finished(self, stop: StopTraining | None = None) -> None:
        """Data parallel: after rank 0 worked alone (evaluation, checkpoint), the others wait for it here; if rank 0
        stopped (a signal, early stopping), they stop too, as if the signal had reached them."""
        if self.sync is None:
            return
        if self.is_main:
            outcome = json.dumps({"stop": str(stop), "signal": self._stop_signal}) if stop else ""
            self.sync.main_finished(outcome)
        elif outcome := self.sync.wait_for_main():
            stopped = json.loads(outcome)
            self._stop_signal = self._stop_signal or stopped["signal"]
            raise StopTraining(stopped["stop"])

    def _check_in_sync(self, model: paddle.nn.Layer, state: dict[str, Any]) -> None:
        """Data parallel, before a checkpoint and at the end: the ranks' weights must be identical."""
        if self.sync is None:
            return
        if not self.cfg.freeze_norm:
            self.sync.average_norm_statistics(model)
        self.sync.check_in_sync(model, state["global_step"])

    def _evaluate(
        self, model: paddle.nn.Layer, optimizer: Any, state: dict[str, Any], total_steps: int
    ) -> None:
        if not self.is_main:
            self._main_finished()
            return
        try:
            self._evaluate_on_main(model, optimizer, state, total_steps)
        except Exception as error:
            stop = self._signalled_stop(error)
            if stop is None:
                raise
            self._main_finished(stop)
            raise  # the loop's handler reads it as the same stop
        self._main_finished()

    def _evaluate_on_main(
        self, model: paddle.nn.Layer, optimizer: Any, state: dict[str, Any], total_steps: int
    ) -> None:
        model.eval()
        state["eval_pending"] = True  # a signal during evaluation saves this; the resumed run evaluates first
        with paddle.no_grad(), self._evaluated_weights():
            # not while paddle traces the eval program: an exception raised inside its tracer is lost, turned into
            # another error, or leaves it broken (a later trace segfaults); a signal now stops right after
            self._interruptible = False
            predictor = self.task.eval_predictor(model)
            self._interruptible = True
            if self._stop_signal is not None:
                raise StopTraining(f"received signal {self._stop_signal}")
            report = self.task.evaluate(predictor, progress=self.cfg.progress)
            fit = self._fit_metrics(predictor)
        self._interruptible = False
        state["eval_pending"] = False
        value = float(report[self.task.metric_name])
        step = state["global_step"]
        improved = state["best_metric"] is None or value > state["best_metric"]
        if improved:
            state.update(best_metric=value, best_step=step, evals_without_improvement=0)
        else:
            state["evals_without_improvement"] += 1
        scalars = {f"eval/{k}": float(v) for k, v in report.items() if isinstance(v, (int, float))}
        scalars[f"eval/best_{self.task.metric_name}"] = state["best_metric"]
        scalars.update(fit)
        self._log(scalars, step)
        summary = ", ".join(f"{k.removeprefix('eval/')}={v:.4f}" for k, v in scalars.items())
        tqdm.write(f"eval @ step {step}: {summary}")
        metrics = {k: v for k, v in report.items() if isinstance(v, (int, float))}
        full_state = self._state(**state, total_steps=total_steps, eval=metrics)
        if improved:
            with self._evaluated_weights():
                self._save("best", model, None, full_state)
        self._save("latest", model, optimizer, full_state)
        patience = self.cfg.early_stopping_patience
        if patience and state["evals_without_improvement"] >= patience:
            raise StopTraining(
                f"{self.task.metric_name} did not improve for {patience} evaluations (early stopping)"
            )

    def _fit_metrics(self, predictor: Any) -> dict[str, float]:
        """``trainer.fit_samples`` training samples scored as the val split is (no augmentation): the same samples at
        every evaluation, a seeded choice."""
        if not self.cfg.fit_samples:
            return {}
        if self._fit_set is None:
            train = self.task.dataset("train", "eval")
            chosen = np.random.default_rng(self.cfg.seed).permutation(len(train))[: self.cfg.fit_samples]
            self._fit_set = paddle.io.Subset(train, sorted(chosen.tolist()))
        report = self.task.evaluate(predictor, progress=self.cfg.progress, dataset=self._fit_set)
        return {f"fit/{k}": float(v) for k, v in report.items() if isinstance(v, (int, float))}

    def _plot_history(self) -> None:
        """loss_curve.png: training loss and the selection metric (on the val split, and on the training samples of
        ``trainer.fit_samples``) against the global step."""
        if not self.history_file.is_file():
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [
            json.loads(line) for line in self.history_file.read_text(encoding="utf-8").splitlines() if line
        ]
        train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
        key, fit_key = f"eval/{self.task.metric_name}", f"fit/{self.task.metric_name}"
        evals = [(r["step"], r[key]) for r in rows if key in r]
        fits = [(r["step"], r[fit_key]) for r in rows if fit_key in r]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        if train:
            ax.plot(*zip(*train, strict=True), label="train loss", color="tab:blue")
        ax.set_xlabel("global step")
        ax.set_ylabel("loss")
        if evals:
            ax2 = ax.twinx()
            ax2.plot(*zip(*evals, strict=True), "o-", label=key, color="tab:orange")
            if fits:
                ax2.plot(
                    *zip(*fits, strict=True), "s--", label=f"{fit_key} (training samples)", color="tab:green"
                )
            ax2.set_ylabel(self.task.metric_name)
        ax.set_title(f"{self.task.kind} training")
        fig.legend(loc="lower center", ncol=3)  # below the axes: the curves fill the plot's corners
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        fig.savefig(self.run_dir / "loss_curve.png", dpi=100)
        plt.close(fig)
