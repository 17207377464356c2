"""The MLflow model registry (docs/architecture.md: registry URIs): exported models as MLflow model versions, and registry URIs resolved locally.

``register_model`` logs an exported inference directory as an MLflow pyfunc model (:class:`OCRModel`, the OCR
pipeline with that model in its det or rec slot, so ``mlflow models serve`` answers OCR requests), registers a
version with lineage and metrics as tags, and points an alias (``champion``) at it.

``download_model`` turns ``models:/name/version``, ``models:/name@alias`` or ``runs:/<run id>/<path>`` into a local
inference directory for ``det_model`` / ``rec_model``: resolved once (an alias to its version at that moment) and
cached under ``~/.cache/ocrtrain/registry`` (``OCRTRAIN_CACHE`` moves it). Importing this module registers both
schemes with the pipeline's model-source resolver.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pydantic
import yaml

from ocrtrain.cache import cache_dir
from ocrtrain.pipeline.model_source import ModelSourceError, register_uri_resolver
from ocrtrain.tracking import MlflowRun, tracking_uri

COMPLETE_MARK = ".ocrtrain-complete"


class OCRRecord(pydantic.BaseModel):
    """One image's OCR result (docs/architecture.md: result schema), as the served model's output schema."""

    img_path: str | None = None
    dt_polys: list[list[list[float]]]
    dt_scores: list[float]
    rec_text: list[str]
    rec_score: list[float]


class OCRModel(mlflow.pyfunc.PythonModel):
    """The OCR pipeline with the registered model in its slot (the zoo model in the other).

    Input: records (dicts, or DataFrame rows) with ``image`` (base64-encoded image file bytes) or ``path``.
    Output: one OCR result per row, in the pipeline's schema (docs/architecture.md: result schema).
    """

    def load_context(self, context: Any) -> None:
        from ocrtrain import create_pipeline

        inference_dir = context.artifacts["inference_dir"]
        task = _task_of_dir(Path(inference_dir))
        self.pipeline = create_pipeline("OCR", **{f"{task}_model": inference_dir})

    # MLflow reads these type hints as the model's signature (and validates requests against it)
    def predict(
        self, model_input: list[dict[str, str]], params: dict[str, str] | None = None
    ) -> list[OCRRecord]:
        results = []
        for row in model_input:
            if row.get("image"):
                from ocrtrain.imageio import decode_image

                item: Any = decode_image(base64.b64decode(row["image"]), "request image")
            elif row.get("path"):
                item = str(row["path"])
            else:
                raise ValueError("each input row needs 'image' (base64 image bytes) or 'path'")
            (result,) = self.pipeline.predict(item)
            results.append(OCRRecord(**result))
        return results


def _task_of_dir(inference_dir: Path) -> str:
    meta = yaml.safe_load((inference_dir / "inference.yml").read_text(encoding="utf-8")) or {}
    task = meta.get("ocrtrain", {}).get("task")
    if task not in ("det", "rec"):
        raise ModelSourceError(
            f"{inference_dir}: inference.yml does not say whether this is a det or rec model"
        )
    return task


def register_model(
    run: MlflowRun,
    inference_dir: Path,
    name: str,
    alias: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Log ``inference_dir`` as a pyfunc model in ``run`` and register it as a new version of ``name``;
    returns the version. ``tags`` (lineage, metrics) go on the version."""
    import mlflow
    import paddle

    from ocrtrain import __version__

    task = _task_of_dir(inference_dir)
    mlflow.set_tracking_uri(run.uri)
    with mlflow.start_run(run_id=run.run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("serving_model.py")),
            artifacts={"inference_dir": str(inference_dir)},
            registered_model_name=name,
            # explicit, so MLflow does not load the model in a subprocess to guess them
            pip_requirements=[
                f"ocrtrain=={__version__}",
                f"paddlepaddle=={paddle.__version__}",
                f"mlflow=={mlflow.__version__}",
            ],
        )
    version = str(info.registered_model_version)
    client = run.client
    client.set_registered_model_tag(name, "ocrtrain.task", task)
    for key, value in {"ocrtrain.task": task, **(tags or {})}.items():
        client.set_model_version_tag(name, version, key, str(value))
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


def _resolve_models_uri(client: Any, uri: str) -> tuple[str, str]:
    """``models:/name/version`` or ``models:/name@alias`` -> (name, version), with errors a user can act on."""
    from mlflow.exceptions import MlflowException

    ref = uri.removeprefix("models:/")
    name, at, alias = ref.partition("@")
    version = None if at else name.rpartition("/")[2]
    name = name if at else name.rpartition("/")[0]
    if not name or (at and not alias) or (not at and not version):
        raise ModelSourceError(f"{uri}: expected models:/<name>/<version> or models:/<name>@<alias>")
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        known = sorted(m.name for m in client.search_registered_models(max_results=50))
        raise ModelSourceError(
            f"{uri}: no registered model '{name}' (registered: {', '.join(known) or 'none'})"
        ) from None
    if at:
        if alias not in model.aliases:
            have = ", ".join(f"{a} -> v{v}" for a, v in sorted(model.aliases.items())) or "none"
            raise ModelSourceError(f"{uri}: model '{name}' has no alias '{alias}' (aliases: {have})")
        return name, str(model.aliases[alias])
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
    if version == "latest" and versions:
        return name, str(versions[-1])
    if not version.isdigit() or int(version) not in versions:
        raise ModelSourceError(f"{uri}: model '{name}' has no version {version} (versions: {versions})")
    return name, version


def _is_inference_dir(path: Path) -> bool:
    """An export: inference.yml beside a Paddle program's parameters or an ONNX graph (``export format=onnx``)."""
    return (path / "inference.yml").is_file() and any(
        (path / name).is_file() for name in ("inference.pdiparams", "inference.onnx")
    )


def _inference_dir(root: Path, uri: str) -> Path:
    found = sorted(p.parent for p in root.rglob("inference.yml") if _is_inference_dir(p.parent))
    if not found:
        raise ModelSourceError(
            f"{uri}: holds no exported inference model (inference.yml with inference.pdiparams or inference.onnx)"
        )
    return found[0]


def download_model(uri: str, store_uri: str | None = None) -> Path:
    """The local inference directory behind a registry or run URI, downloaded on first use and cached."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    store = tracking_uri(store_uri)
    client = MlflowClient(tracking_uri=store)
    if uri.startswith("models:/"):
        name, version = _resolve_models_uri(client, uri)
        key, source = Path("models", name, version), f"models:/{name}/{version}"
    elif uri.startswith("runs:/"):
        run_id, _, path = uri.removeprefix("runs:/").partition("/")
        try:
            client.get_run(run_id)
        except MlflowException:
            raise ModelSourceError(f"{uri}: no run '{run_id}' in {store}") from None
        key, source = Path("runs", run_id, path or "_"), uri
    else:
        raise ModelSourceError(f"{uri}: not a models:/ or runs:/ URI")
    # one cache per store: the same name and version in two stores are different models
    cached = cache_dir("registry") / hashlib.sha256(store.encode()).hexdigest()[:12] / key
    if not (cached / COMPLETE_MARK).is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=cached.parent, prefix=".download-"))
        try:
            download_artifacts(artifact_uri=source, dst_path=str(staging), tracking_uri=store)
        except MlflowException as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelSourceError(f"{uri}: download failed: {e.message}") from None
        except BaseException:  # interrupted or failed otherwise: no half download is left behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (staging / COMPLETE_MARK).write_text(source, encoding="utf-8")
        shutil.rmtree(cached, ignore_errors=True)
        staging.rename(cached)  # atomic: a half-downloaded model is never taken for a cached one
    return _inference_dir(cached, uri)


register_uri_resolver("models", download_model)
register_uri_resolver("runs", download_model)
