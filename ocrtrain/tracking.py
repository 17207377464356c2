"""MLflow tracking of train, eval and export runs (docs/architecture.md).

Default store: ``sqlite:///mlflow.db`` in the working directory with artifacts under ``./mlartifacts``;
``MLFLOW_TRACKING_URI`` or ``tracking.uri=`` points elsewhere (a team server). A run records the resolved config
(flattened to dotted params), the command-line overrides, the dataset fingerprint, versions and git state (tags),
metrics with the global step, and artifacts. A resumed training run continues its MLflow run; eval and export
runs are children of the training run they evaluate or export; a Hydra multirun groups its jobs under one
parent run (:class:`SweepParentRun`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"
RUN_FILE = "mlflow_run.json"  # in a training run directory: which MLflow run it is
PARENT_ENV = "OCRTRAIN_MLFLOW_PARENT_RUN_ID"  # set by SweepParentRun for the jobs of a multirun
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


def tracking_uri(uri: str | None = None) -> str:
    """``tracking.uri`` if set, else ``MLFLOW_TRACKING_URI``, else the embedded SQLite store in the working dir."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _is_local(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


@contextlib.contextmanager
def local_store_lock(uri: str) -> Iterator[None]:
    """Serialise first use of a local store across processes: creating a SQLite store (its tables and migrations)
    or the experiment is not safe when two runs start at once. Remote servers need no lock."""
    if not _is_local(uri):
        yield
        return
    if uri.startswith("sqlite:"):
        store = Path(uri.removeprefix("sqlite:///"))
    else:
        store = Path(uri.removeprefix("file://").removeprefix("file:")) / ".ocrtrain"
    store.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{store}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """A config as ``{"det.optimizer.lr": "0.001", ...}``: nested mappings become dotted keys, lists strings."""
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    out: dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): str(node)[:MAX_PARAM_LENGTH]}


def _git(args: list[str], directory: str | Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=directory, capture_output=True, text=True, timeout=10, check=True
    ).stdout


def git_state(directory: str | Path = ".") -> dict[str, str]:
    """Commit and dirty flag of the git work tree holding ``directory``; empty outside one (or without git)."""
    try:
        commit = _git(["rev-parse", "HEAD"], directory).strip()
        dirty = bool(_git(["status", "--porcelain"], directory).strip())
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"mlflow.source.git.commit": commit, "git.commit": commit, "git.dirty": str(dirty).lower()}


def fingerprint_params(provenance: dict[str, Any]) -> dict[str, str]:
    """Per label file its path, line count and content hash (and the dictionary hash for rec), as params."""
    params = {"model.name": str(provenance.get("model_name")), "dataset.name": str(provenance.get("dataset"))}
    files = provenance.get("label_files", {})
    for i, (path, info) in enumerate(sorted(files.items())):
        params.update(
            {
                f"dataset.files.{i}.path": path,
                f"dataset.files.{i}.lines": str(info["lines"]),
                f"dataset.files.{i}.sha256": info["sha256"],
            }
        )
    combined = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    params["dataset.fingerprint"] = combined[:16]
    if provenance.get("dict_sha256"):
        params["dataset.dict_sha256"] = provenance["dict_sha256"]
    return params


class MlflowRun:
    """One MLflow run, written through the client API (no global active run, so Hydra multiruns stay separate).

    It is the trainer's tracker: ``log_metrics(metrics, step)``. Evaluation metrics arrive as ``eval/<name>``
    and are stored under their plain names (``hmean``, ``acc``...; the metric names in docs/architecture.md).
    """

    def __init__(self, client: Any, run_id: str, uri: str) -> None:
        self.client, self.run_id, self.uri = client, run_id, uri

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(name.removeprefix("eval/"), float(value), now, int(step))
            for name, value in metrics.items()
            if isinstance(value, (int, float)) and math.isfinite(value)
        ]
        self.client.log_batch(self.run_id, metrics=batch)

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path or path.name)
        elif path.is_file():
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)


class NoRun:
    """Tracking switched off (``tracking.enabled=false``): the same calls, doing nothing."""

    run_id = None

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_params(self, params: dict[str, str]) -> None:
        pass

    def set_tags(self, tags: dict[str, str]) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def end(self, status: str = "FINISHED") -> None:
        pass


@contextlib.contextmanager
def ended_on_error(run: MlflowRun | NoRun) -> Iterator[None]:
    """An error in the block ends ``run`` and goes on: KILLED for Ctrl-C or a signal's exit (status 128 + signal,
    see ``cli.exit_on_signals`` and the trainer), FAILED for anything else, a usage error or bad data included."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as e:
        signalled = isinstance(e, KeyboardInterrupt) or (isinstance(e.code, int) and e.code > 128)
        run.end("KILLED" if signalled else "FAILED")
        raise
    except BaseException:
        run.end("FAILED")
        raise


def _experiment_id(client: Any, name: str, uri: str, artifact_location: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    if artifact_location is None and _is_local(uri):
        artifact_location = Path(DEFAULT_ARTIFACTS).resolve().as_uri()
    return client.create_experiment(name, artifact_location=artifact_location)


def start_run(
    tracking_cfg: DictConfig | dict,
    entry: str,
    run_name: str | None = None,
    resume_run_id: str | None = None,
    parent_run_id: str | None = None,
) -> MlflowRun | NoRun:
    """Open the run of an entry point (``train``, ``eval``, ``export``), or reopen ``resume_run_id``."""
    if not tracking_cfg.get("enabled", True):
        return NoRun()
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(tracking_cfg.get("uri"))
    with local_store_lock(uri):
        client = MlflowClient(tracking_uri=uri)  # creates (and migrates) a new SQLite store
        if resume_run_id:
            client.update_run(resume_run_id, status="RUNNING")
            return MlflowRun(client, resume_run_id, uri)
        experiment_id = _experiment_id(
            client, tracking_cfg.get("experiment", "ocrtrain"), uri, tracking_cfg.get("artifact_location")
        )
    tags = {"ocrtrain.entry": entry}
    parent_run_id = parent_run_id or os.environ.get(PARENT_ENV)
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    return MlflowRun(client, run.info.run_id, uri)


def standard_tags(device: str, task_kind: str | None) -> dict[str, str]:
    import paddle

    from ocrtrain import __version__

    tags = {"ocrtrain.version": __version__, "paddle.version": paddle.__version__, "device": device}
    if task_kind:
        tags["ocrtrain.task"] = task_kind
    return {**tags, **git_state(Path.cwd())}


def write_run_file(run_dir: Path, run: MlflowRun | NoRun) -> None:
    if isinstance(run, MlflowRun):
        (run_dir / RUN_FILE).write_text(json.dumps({"run_id": run.run_id, "tracking_uri": run.uri}), "utf-8")


def read_run_file(run_dir: Path) -> str | None:
    """The MLflow run id a training run directory was tracked under, if any."""
    path = Path(run_dir) / RUN_FILE
    return json.loads(path.read_text("utf-8"))["run_id"] if path.is_file() else None


def end_unfinished(tracking_cfg: DictConfig | dict, run_dir: Path, status: str) -> None:
    """Mark the training run of ``run_dir`` ``status`` unless it already ended (a data-parallel rank 0 that was
    killed could not)."""
    path = Path(run_dir) / RUN_FILE
    if not tracking_cfg.get("enabled", True) or not path.is_file():
        return
    from mlflow.tracking import MlflowClient

    saved = json.loads(path.read_text("utf-8"))
    client = MlflowClient(tracking_uri=saved["tracking_uri"])
    if client.get_run(saved["run_id"]).info.status == "RUNNING":
        client.set_terminated(saved["run_id"], status)


def log_run_config(run: MlflowRun | NoRun, cfg: DictConfig, run_dir: Path, overrides: list[str]) -> None:
    """Params from the resolved config, the command-line overrides, and the config files as artifacts."""
    params = flatten({k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k != "hydra"})
    params["overrides"] = " ".join(overrides)[:MAX_PARAM_LENGTH] or "(none)"
    run.log_params(params)
    resolved = run_dir / "config_resolved.yaml"
    resolved.write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")
    run.log_artifact(resolved)
    run.log_artifact(run_dir / ".hydra", ".hydra")


def open_run(
    cfg: DictConfig,
    entry: str,
    task: Any,
    run_dir: Path,
    resume_run_id: str | None = None,
    training_run_dir: Path | None = None,
) -> MlflowRun | NoRun:
    """The MLflow run of an entry point, fully described: tags, config params and files, dataset fingerprint.

    ``resume_run_id`` reopens a training run as it was; ``training_run_dir`` makes an eval or export run a child
    of the run that trained the checkpoint.
    """
    from hydra.core.hydra_config import HydraConfig

    if os.environ.get("PADDLE_TRAINER_ID", "0") != "0":  # data parallel: rank 0 alone tracks
        return NoRun()
    if resume_run_id:
        return start_run(cfg.tracking, entry, resume_run_id=resume_run_id)
    training_run_id = read_run_file(training_run_dir) if training_run_dir else None
    run = start_run(cfg.tracking, entry, run_name=f"{entry} {run_dir.name}", parent_run_id=training_run_id)
    with ended_on_error(run):
        tags = {**standard_tags(cfg.device, task.kind), "ocrtrain.run_dir": str(run_dir)}
        if training_run_id:
            tags["ocrtrain.training_run_id"] = training_run_id
        run.set_tags(tags)
        log_run_config(run, cfg, run_dir, list(HydraConfig.get().overrides.task))
        run.log_params(fingerprint_params(task.provenance()))
        if entry == "train":
            write_run_file(run_dir, run)
    return run


class SweepParentRun(Callback):
    """Hydra callback: a multirun (``-m``, or the Optuna sweeper) opens one parent run; every job nests under it.

    Registered in ``conf/train.yaml`` under ``hydra.callbacks``; Hydra calls it only in multirun mode for the
    parent, and the jobs (same process with the basic launcher) find the parent's id in the environment.
    """

    def __init__(self) -> None:
        self.run: MlflowRun | NoRun = NoRun()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.run = start_run(
            config.get("tracking", {}), "sweep", run_name=f"sweep {time.strftime('%Y-%m-%d %H:%M:%S')}"
        )
        if isinstance(self.run, MlflowRun):
            os.environ[PARENT_ENV] = self.run.run_id
            overrides = list(config.hydra.overrides.task)
            self.run.log_params({"sweep.overrides": " ".join(overrides)[:MAX_PARAM_LENGTH] or "(none)"})

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ.pop(PARENT_ENV, None)
        self.run.log_artifact(
            Path(config.hydra.sweep.dir) / "optimization_results.yaml"
        )  # Optuna's best trial
        self.run.end()
