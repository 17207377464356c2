"""MLflow tracking and registry against real stores: SQLite in a temp dir, a real `mlflow server`, `mlflow models serve`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, free_port, post_image, run_module, run_ok, serving
from mlflow.tracking import MlflowClient

from ocrtrain import runs
from ocrtrain.pipeline.model_source import ModelSourceError

SMALL = [
    "det=PP-OCRv4_mobile_det",
    "data=icdar2015_demo",
    f"data.root={REPO / 'datasets' / 'icdar2015_demo'}",
    "det.train_transform.crop_size=320",
    "trainer.batch_size=2",
    "trainer.num_workers=0",
    "trainer.log_every_steps=1",
    "trainer.progress=false",
]
IMAGE = REPO / "datasets" / "icdar2015_demo" / "images" / "img_11.jpg"


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    """A user's working directory after: train 2 steps, resume to 3, eval, export + register as demo-det@champion."""
    cwd = tmp_path_factory.mktemp("workspace")
    run_ok("train", *SMALL, "trainer.max_steps=2", cwd=cwd)
    (run_dir,) = list((cwd / "outputs" / "train").iterdir())
    run_ok("train", *SMALL, "trainer.max_steps=3", f"resume={run_dir}", cwd=cwd)
    run_ok("eval", cwd=cwd)
    export_dir = cwd / "exported"
    out = run_ok("export", f"export_dir={export_dir}", "register=demo-det", "alias=champion", cwd=cwd).stdout
    assert "registered models:/demo-det@champion and models:/demo-det/1" in out
    return {"cwd": cwd, "run_dir": run_dir, "export_dir": export_dir, "uri": f"sqlite:///{cwd / 'mlflow.db'}"}


@pytest.fixture()
def store(workspace, monkeypatch, tmp_path) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace["uri"])
    monkeypatch.setenv("OCRTRAIN_CACHE", str(tmp_path / "cache"))
    return MlflowClient(workspace["uri"])


def _runs(client: MlflowClient, entry: str) -> list:
    experiment = client.get_experiment_by_name("ocrtrain")
    return client.search_runs([experiment.experiment_id], f"tags.`ocrtrain.entry` = '{entry}'")


def test_training_run_holds_params_metric_history_and_artifacts(workspace, store):
    (run,) = _runs(store, "train")  # the resume continued the same run
    assert run.info.status == "FINISHED"
    params, tags = run.data.params, run.data.tags
    assert params["det.optimizer.lr"] == "0.001" and params["trainer.max_steps"] == "2"
    assert "trainer.max_steps=2" in params["overrides"] and params["model.name"] == "PP-OCRv4_mobile_det"
    assert params["dataset.name"] == "icdar2015_demo" and len(params["dataset.files.0.sha256"]) == 64
    assert tags["ocrtrain.version"] and tags["paddle.version"].startswith("3.") and tags["device"] == "cpu"
    assert (workspace["run_dir"] / "mlflow_run.json").is_file()

    loss = store.get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in loss) == [1, 2, 3]  # steps 1-2, then 3 after the resume
    hmean = store.get_metric_history(run.info.run_id, "hmean")
    assert [m.step for m in hmean] == [2, 3] and all(0 <= m.value <= 1 for m in hmean)
    assert {m.key for m in [*loss, *hmean]} == {"loss", "hmean"}
    assert "best_hmean" in run.data.metrics and "lr" in run.data.metrics

    artifacts = {a.path for a in store.list_artifacts(run.info.run_id)}
    assert {".hydra", "config_resolved.yaml", "checkpoints", "loss_curve.png", "metrics.jsonl"} <= artifacts
    assert {a.path for a in store.list_artifacts(run.info.run_id, "checkpoints/best")} >= {
        "checkpoints/best/model.pdparams"
    }


def test_eval_and_export_runs_link_to_the_training_run(workspace, store):
    (train,) = _runs(store, "train")
    (evaluation,) = _runs(store, "eval")
    (export,) = _runs(store, "export")
    for child in (evaluation, export):
        assert child.data.tags["mlflow.parentRunId"] == train.info.run_id
        assert child.data.tags["ocrtrain.training_run_id"] == train.info.run_id
    assert evaluation.data.metrics["hmean"] == pytest.approx(train.data.metrics["best_hmean"])
    assert {"eval_report.json", "worst.png"} <= {a.path for a in store.list_artifacts(evaluation.info.run_id)}
    assert export.data.metrics["parity_max_abs_diff"] < 1e-4
    exported = {a.path for a in store.list_artifacts(export.info.run_id, "inference")}
    assert "inference/inference.json" in exported


def test_registered_version_carries_alias_lineage_and_metrics(workspace, store):
    version = store.get_model_version_by_alias("demo-det", "champion")
    (train,) = _runs(store, "train")
    (export,) = _runs(store, "export")
    assert str(version.version) == "1" and version.run_id == export.info.run_id
    assert version.tags["training_run_id"] == train.info.run_id and version.tags["ocrtrain.task"] == "det"
    assert float(version.tags["metric.hmean"]) == pytest.approx(train.data.metrics["best_hmean"])


def test_infer_with_the_registered_model_equals_the_exported_dir(workspace, store):
    from ocrtrain import create_pipeline

    (from_dir,) = create_pipeline("OCR", det_model=str(workspace["export_dir"])).predict(str(IMAGE))
    (from_registry,) = create_pipeline("OCR", det_model="models:/demo-det@champion").predict(str(IMAGE))
    assert (
        from_registry["dt_polys"] == from_dir["dt_polys"]
        and from_registry["rec_text"] == from_dir["rec_text"]
    )
    (by_version,) = create_pipeline("OCR", det_model="models:/demo-det/1").predict(str(IMAGE))
    assert by_version["rec_text"] == from_dir["rec_text"]
    # the CLI takes the same URI
    out = run_ok(
        "infer", f"input={IMAGE}", "det_model=models:/demo-det@champion", cwd=workspace["cwd"]
    ).stdout
    assert from_dir["rec_text"][0] in out


def test_the_service_serves_a_registered_model_by_alias(workspace, store, tmp_path):
    from ocrtrain import create_pipeline

    (from_dir,) = create_pipeline("OCR", det_model=str(workspace["export_dir"])).predict(str(IMAGE))
    with serving("det_model=models:/demo-det@champion", cwd=tmp_path, env=dict(os.environ)) as (port, health):
        assert health["det_model"] == "models:/demo-det@champion"
        answer = post_image(port, IMAGE.read_bytes())
    assert answer["dt_polys"] == from_dir["dt_polys"] and answer["rec_text"] == from_dir["rec_text"]


def test_registry_uri_errors(workspace, store):
    from ocrtrain import create_pipeline

    with pytest.raises(ModelSourceError, match="no registered model 'nope'.*registered: demo-det"):
        create_pipeline("OCR", det_model="models:/nope@champion")
    with pytest.raises(ModelSourceError, match="has no alias 'staging' \\(aliases: champion -> v1\\)"):
        create_pipeline("OCR", det_model="models:/demo-det@staging")
    with pytest.raises(ModelSourceError, match="has no version 7"):
        create_pipeline("OCR", det_model="models:/demo-det/7")
    with pytest.raises(ModelSourceError, match="holds a det model .*but was given as the rec model"):
        create_pipeline("OCR", rec_model="models:/demo-det@champion")
    with pytest.raises(ModelSourceError, match="no run 'deadbeef'"):
        create_pipeline("OCR", det_model="runs:/deadbeef/inference")


def test_runs_uri_and_local_cache(workspace, store, tmp_path):
    from ocrtrain.mlflow_registry import download_model

    (export,) = _runs(store, "export")
    local = download_model(f"runs:/{export.info.run_id}/inference")
    assert (local / "inference.pdiparams").is_file() and str(local).startswith(str(tmp_path / "cache"))
    assert download_model(f"runs:/{export.info.run_id}/inference") == local  # cached: resolved once


def test_a_run_that_fails_ends_failed_and_one_stopped_by_a_signal_killed(tmp_path):
    from ocrtrain.tracking import ended_on_error, start_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcomes = {
        "error": ValueError("bad input"),
        "usage exit": SystemExit(2),
        "sigterm exit": SystemExit(143),
        "ctrl-c": KeyboardInterrupt(),
    }
    for name, error in outcomes.items():
        run = start_run({"uri": uri}, "eval", run_name=name)
        with pytest.raises(type(error)), ended_on_error(run):
            raise error
    client = MlflowClient(uri)
    status = {r.info.run_name: r.info.status for r in _runs(client, "eval")}
    assert status == {"error": "FAILED", "usage exit": "FAILED", "sigterm exit": "KILLED", "ctrl-c": "KILLED"}


def test_an_eval_that_meets_a_damaged_image_ends_its_run_failed(workspace, tmp_path):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    shutil.copy(REPO / "datasets" / "icdar2015_demo" / "val.txt", data)
    for name in ("img_11.jpg", "img_12.jpg"):
        shutil.copy(REPO / "datasets" / "icdar2015_demo" / "images" / name, data / "images")
    damaged = data / "images" / "img_12.jpg"
    damaged.write_bytes(damaged.read_bytes()[:3000])  # its header reads: found only when evaluated
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_module(
        "eval", f"checkpoint={workspace['run_dir']}", "data=icdar2015_demo", f"data.root={data}",
        f"tracking.uri={uri}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and f"error: {data / 'val.txt'}:2: unreadable image" in proc.stderr
    (run,) = _runs(MlflowClient(uri), "eval")
    assert run.info.status == "FAILED"


def test_a_checkpoint_kept_outside_its_run_resumes_into_a_new_run(workspace, tmp_path):
    """A checkpoint copied out of its run resumes at its step in a new run directory; its parent's parent (here
    tmp_path) used to become the run directory and fill with run files."""
    kept = tmp_path / "kept" / "step3"
    shutil.copytree(workspace["run_dir"] / "checkpoints" / "latest", kept)
    out = run_ok("train", *SMALL, "trainer.max_steps=4", f"resume={kept}", cwd=tmp_path).stdout
    (new_run,) = list((tmp_path / "outputs" / "train").iterdir())
    assert f"run dir {new_run}" in out
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["step3"]
    assert not [n for n in ("metrics.jsonl", "train.log", "checkpoints") if (tmp_path / n).exists()]
    assert (new_run / "checkpoints" / "latest").is_dir()
    steps = [json.loads(line)["step"] for line in (new_run / "metrics.jsonl").read_text().splitlines()]
    assert min(steps) == 4  # continued after the checkpoint's step 3
    with pytest.raises(FileNotFoundError, match="not in a training run's checkpoints/ folder"):
        runs.run_config(runs.run_dir_of(kept), kept)  # what eval and export say of it without det=/data=


def test_sweep_jobs_are_children_of_one_parent(tmp_path):
    lrs = "choice(1e-4, 2e-4)"
    run_ok(
        "train",
        "-m",
        *SMALL,
        "trainer.max_steps=1",
        "hparams_search=det_optuna",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.params={{det.optimizer.lr: '{lrs}', trainer.batch_size: 'choice(2)'}}",
        cwd=tmp_path,
    )
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (parent,) = _runs(client, "sweep")
    children = _runs(client, "train")
    assert len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert {c.data.params["det.optimizer.lr"] for c in children} <= {"0.0001", "0.0002"}
    assert "optimization_results.yaml" in {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_training_against_a_real_mlflow_server(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination", str(tmp_path / "server-artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/health", server)
        uri = f"http://127.0.0.1:{port}"
        run_ok("train", *SMALL, "trainer.max_steps=1", f"tracking.uri={uri}", cwd=tmp_path)
        client = MlflowClient(uri)
        (run,) = _runs(client, "train")
        assert run.info.status == "FINISHED" and "hmean" in run.data.metrics
        assert "loss_curve.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
        assert not (tmp_path / "mlflow.db").exists()  # nothing went to the embedded default store
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_mlflow_models_serve_answers_ocr_requests(workspace, store):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/demo-det@champion",
            "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # as in an activated environment: the scoring server starts the `uvicorn` beside this Python
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": workspace["uri"],
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", server)
        body = json.dumps(
            {"inputs": [{"image": base64.b64encode(IMAGE.read_bytes()).decode("ascii")}]}
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            (result,) = json.loads(response.read())["predictions"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert set(result) == {"img_path", "dt_polys", "dt_scores", "rec_text", "rec_score"}
    from ocrtrain import create_pipeline

    (expected,) = create_pipeline("OCR", det_model=str(workspace["export_dir"])).predict(str(IMAGE))
    assert result["rec_text"] == expected["rec_text"] and len(result["dt_polys"]) == len(expected["dt_polys"])


def test_an_onnx_only_export_registers_and_loads_back_from_the_registry(workspace, store, tmp_path):
    """Last in this file: its second export run would make the single-export assertions above ambiguous."""
    from ocrtrain import create_pipeline

    onnx_only = tmp_path / "onnx_only"
    run_ok("export", "format=onnx", f"export_dir={onnx_only}", "register=demo-det-onnx", cwd=workspace["cwd"])
    assert not (onnx_only / "inference.pdiparams").exists()
    (local,) = create_pipeline("OCR", det_model=str(onnx_only), det_backend="onnxruntime").predict(str(IMAGE))
    (registered,) = create_pipeline(
        "OCR", det_model="models:/demo-det-onnx/1", det_backend="onnxruntime"
    ).predict(str(IMAGE))
    assert registered["dt_polys"] == local["dt_polys"] and registered["rec_text"] == local["rec_text"]
