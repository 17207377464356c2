"""Where a ``det_model`` / ``rec_model`` / ``cls_model`` value points: the one place that resolves model specs.

Accepted: a zoo name (``PP-OCRv4_mobile_det``; the ONNX-shipped v5/v6 ones run as a cached Paddle program, see
:mod:`ocrtrain.pipeline.zoo_programs`, or on an ONNX engine as the shipped graph; the v4 ones on an ONNX engine as a
cached conversion), a local exported inference directory
(docs/architecture.md: ``inference.json`` + ``inference.pdiparams`` and/or ``inference.onnx``, + ``inference.yml``),
a legacy Paddle inference directory
(``inference.pdmodel`` + ``inference.pdiparams``), or a URI whose scheme a resolver is registered for
(``models:/`` and ``runs:/`` come from :mod:`ocrtrain.mlflow_registry`). Every file is checked before use, and the
model's kind (det, rec, cls) is checked against the role it was given.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ocrtrain.pipeline.inference_settings import check_rec_classes, rec_classes, zoo_inference_yml
from ocrtrain.pipeline.model_files import (
    ModelSource,
    ModelSourceError,
    check_params,
    onnx_output_shape,
    read_graph,
    task_of_graph,
)
from ocrtrain.pipeline.zoo_programs import zoo_program_dir
from ocrtrain.zoo import ZOO, zoo_model_dir, zoo_onnx_file

__all__ = ["ModelSource", "ModelSourceError", "register_uri_resolver", "resolve_model_source"]

# settings for legacy det/cls dirs that carry no inference.yml
# the settings of an inference dir without inference.yml (PaddleOCR 2.x downloads); a rec dir takes them only when its
# classes fit the dictionary's (2.x's default --rec_char_dict_path, ppocr_keys_v1, + space + blank)
LEGACY_DEFAULTS = {
    "det": "PP-OCRv4_mobile_det",
    "rec": "PP-OCRv4_mobile_rec",
    "cls": "ch_ppocr_mobile_v2_cls",
}

# PostProcess names in inference.yml, as PaddleX writes them, and the task each implies
_POSTPROCESS_TASK = {"DBPostProcess": "det", "CTCLabelDecode": "rec", "ClsPostProcess": "cls"}

# scheme -> function turning such a URI into a local inference directory; filled by the modules that provide them
URI_RESOLVERS: dict[str, Callable[[str], Path]] = {}
# scheme -> the module that registers its resolver when imported (imported on first use of the scheme)
URI_PROVIDERS = {"models": "ocrtrain.mlflow_registry", "runs": "ocrtrain.mlflow_registry"}
_URI_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*):/")


def register_uri_resolver(scheme: str, resolve: Callable[[str], Path]) -> None:
    """Make ``<scheme>:/...`` model specs resolve through ``resolve`` (URI -> local inference directory)."""
    URI_RESOLVERS[scheme] = resolve


def _resolve_uri(scheme: str, text: str) -> Path:
    if scheme not in URI_RESOLVERS and scheme in URI_PROVIDERS:
        importlib.import_module(URI_PROVIDERS[scheme])
    if scheme not in URI_RESOLVERS:
        raise ModelSourceError(f"{text}: no resolver for '{scheme}:/' URIs (known: {sorted(URI_PROVIDERS)})")
    return URI_RESOLVERS[scheme](text)


def _model_files(path: Path) -> tuple[Path, Path] | None:
    params = path / "inference.pdiparams"
    for name in ("inference.json", "inference.pdmodel"):
        if (path / name).is_file() and params.is_file():
            return path / name, params
    return None


def _read_meta(meta_file: Path) -> dict[str, Any]:
    try:
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ModelSourceError(f"{meta_file}: not readable YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise ModelSourceError(f"{meta_file}: expected a mapping, got {type(meta).__name__}")
    return meta


def _task_of_meta(meta: dict[str, Any]) -> str | None:
    ours = (meta.get("ocrtrain") or {}).get("task")
    return ours or _POSTPROCESS_TASK.get((meta.get("PostProcess") or {}).get("name", ""))


def _check_role(found: str, task: str, text: str, shown: str) -> None:
    if found != task:
        raise ModelSourceError(f"'{text}' holds a {found} model ({shown}) but was given as the {task} model")


def _from_onnx_directory(path: Path, text: str, task: str) -> ModelSource:
    """An exported directory holding only ``inference.onnx`` (``export format=onnx``) and its ``inference.yml``."""
    meta_file = path / "inference.yml"
    if not meta_file.is_file():
        raise ModelSourceError(
            f"{meta_file}: missing: an ONNX-only model directory needs it; export writes one"
        )
    meta = _read_meta(meta_file)
    found = _task_of_meta(meta)
    if found is None:
        raise ModelSourceError(f"{meta_file}: says neither ocrtrain.task nor a known PostProcess.name")
    _check_role(found, task, text, f"says {meta_file.name}")
    if task == "rec":
        check_rec_classes(meta, str(meta_file), onnx_output_shape(path / "inference.onnx"))
    return ModelSource(text, task, None, None, meta, str(meta_file), onnx_file=path / "inference.onnx")


def _from_directory(path: Path, text: str, task: str) -> ModelSource:
    onnx_file = path / "inference.onnx" if (path / "inference.onnx").is_file() else None
    files = _model_files(path)
    if files is None:
        if onnx_file is not None:
            return _from_onnx_directory(path, text, task)
        found = sorted(p.name for p in path.iterdir())[:10]
        raise ModelSourceError(
            f"{text}: not an inference model directory: expected inference.json (or inference.pdmodel) and "
            f"inference.pdiparams, or inference.onnx; found {found}"
        )
    model_file, params_file = files
    graph = read_graph(model_file)
    check_params(params_file, graph)
    from_graph = task_of_graph(graph)
    meta_file = path / "inference.yml"
    meta = _read_meta(meta_file) if meta_file.is_file() else {}
    from_meta = _task_of_meta(meta)
    if from_meta and from_graph and from_meta != from_graph:
        raise ModelSourceError(
            f"{meta_file}: inference.yml says {from_meta}, but the graph's output {graph.output_shape} is a "
            f"{from_graph} model's"
        )
    found = from_meta or from_graph
    if found is None:
        raise ModelSourceError(
            f"{text}: cannot tell what kind of model this is (no inference.yml, output shape {graph.output_shape})"
        )
    _check_role(found, task, text, f"output {graph.output_shape}")
    if not meta:
        meta = zoo_inference_yml(LEGACY_DEFAULTS[task], task)
        classes, needed = (graph.output_shape or [None])[-1], rec_classes(meta)
        if task == "rec" and classes != needed:
            raise ModelSourceError(
                f"{meta_file}: missing: a rec model directory needs its inference.yml to say its dictionary. This "
                f"model has {classes} classes, not the {needed} of PaddleOCR's default dictionary "
                "(ppocr_keys_v1 + space); write one beside it: 'PostProcess: {name: CTCLabelDecode, "
                "character_dict: [...]}', the lines of the dictionary file it was trained with, in order "
                "(ocrtrain's export writes one)"
            )
        print(
            f"ocrtrain: {text} has no inference.yml; using {LEGACY_DEFAULTS[task]}'s inference settings",
            file=sys.stderr,
        )
    if task == "rec":
        check_rec_classes(meta, str(meta_file), graph.output_shape)
    return ModelSource(text, task, model_file, params_file, meta, str(meta_file), onnx_file)


def _from_zoo_program(name: str, task: str) -> ModelSource:
    """An ONNX-shipped zoo model through its cached Paddle program, or a PP-OCRv4 one through its cached ONNX graph."""
    return _from_directory(zoo_program_dir(name), name, task)


# inference engines that run a model's ONNX graph
ONNX_BACKENDS = ("onnxruntime", "openvino")


def _wants_onnx_graph(backend: str) -> bool:
    """Whether a zoo model shipped as a Paddle program is converted to ONNX for ``backend``: always for an ONNX
    engine, and for ``auto`` when the converter is installed (auto then prefers OpenVINO, measured faster)."""
    return backend in ONNX_BACKENDS or (
        backend == "auto" and importlib.util.find_spec("paddle2onnx") is not None
    )


def resolve_model_source(spec: str | Path, task: str, backend: str = "paddle") -> ModelSource:
    """Resolve ``spec`` for the ``task`` role ("det", "rec", "cls"), with clear errors for a wrong role.

    ``backend`` is the engine it will run on: an ONNX-shipped zoo model on an ONNX backend takes its shipped graph
    as is, with no Paddle program built for it.
    """
    text = str(spec).strip()
    if not text:
        raise ModelSourceError(f"empty {task} model spec")
    uri = _URI_RE.match(text)
    if uri:  # errors name the URI the user wrote, not the local copy
        return _from_directory(_resolve_uri(uri["scheme"], text), text, task)
    if text in ZOO:
        entry = ZOO[text]
        if entry.task != task:
            raise ModelSourceError(f"'{text}' is a {entry.task} model but was given as the {task} model")
        if entry.onnx_file and backend in (*ONNX_BACKENDS, "auto"):
            # a shipped graph and its pinned dictionary fit (tests/models/test_onnx_zoo.py): no class check, which
            # would parse the whole graph (0.1 s for v6 small rec) at every pipeline start
            settings = zoo_inference_yml(text, task)
            origin = f"{text} (model config conf/{task}/{text}.yaml)"
            return ModelSource(text, task, None, None, settings, origin, onnx_file=zoo_onnx_file(text))
        if entry.onnx_file or _wants_onnx_graph(backend):
            return _from_zoo_program(
                text, task
            )  # PP-OCRv4 on an ONNX engine: converted once, with its program
        directory = zoo_model_dir(text)
        return ModelSource(
            text,
            task,
            directory / "inference.pdmodel",
            directory / "inference.pdiparams",
            zoo_inference_yml(text, task),
            f"{text} (model config conf/{task}/{text}.yaml)",
        )
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelSourceError(
            f"{task} model '{text}' is neither a known zoo name ({', '.join(sorted(ZOO))}) nor an existing path"
        )
    if not path.is_dir():
        raise ModelSourceError(f"{task} model '{text}' must be a directory with an exported inference model")
    return _from_directory(path, text, task)
