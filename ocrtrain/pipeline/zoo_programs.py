"""Zoo models that ship as ONNX graphs (PP-OCRv5, PP-OCRv6), as Paddle inference programs the pipeline can run.

The first use of such a name builds the model from its composed config, loads the shipped weights (checked against
ONNX Runtime on load) and exports it like a trained model into a per-user cache (``~/.cache/ocrtrain/zoo``;
``OCRTRAIN_CACHE`` moves it), keyed by the ONNX file's sha256 and ocrtrain's version. Later uses take the cached
directory. A build goes to a temporary directory renamed into place at the end, so a process that is stopped, or
two building at once, never leave a half-written directory behind.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import yaml

from ocrtrain.pipeline.configs import zoo_model_config
from ocrtrain.pipeline.inference_settings import zoo_inference_yml
from ocrtrain.zoo import zoo_entry, zoo_onnx_file


def cache_root() -> Path:
    return Path(os.environ.get("OCRTRAIN_CACHE", Path.home() / ".cache" / "ocrtrain")) / "zoo"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ocrtrain_version() -> str:
    try:
        return importlib.metadata.version("ocrtrain")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "source"


def _export(name: str, task: str, onnx_sha256: str, out_dir: Path) -> None:
    from ocrtrain.data.dictionary import CharDict
    from ocrtrain.models.builder import build_model
    from ocrtrain.models.export import save_inference
    from ocrtrain.models.loading import load_pretrained

    cfg = zoo_model_config(name, task)
    head_args = (
        {"num_classes": CharDict.pretrained(cfg.get("dictionary", name)).num_classes} if task == "rec" else {}
    )
    model = build_model(cfg["arch"], **head_args)
    height = None if task == "det" else int(cfg["image_shape"][0])
    # paddle's tracer (loading traces the model too) warns once per traced tensor: nothing a user can act on
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tensor do not have 'place' interface")
        load_pretrained(model, name).raise_if_poor()
        save_inference(model, out_dir, [None, 3, height, None])
    meta = zoo_inference_yml(name, task)
    meta["ocrtrain"] = {"task": task, "zoo_name": name, "onnx_sha256": onnx_sha256}
    (out_dir / "inference.yml").write_text(yaml.safe_dump(meta, allow_unicode=True, sort_keys=False), "utf-8")


def zoo_program_dir(name: str, rebuild: bool = False) -> Path:
    """The cached exported directory of the ONNX-shipped zoo model ``name``, built on first use (or ``rebuild``)."""
    task = zoo_entry(name).task
    onnx_file = zoo_onnx_file(name)
    if onnx_file is None:
        raise ValueError(f"'{name}' does not ship as an ONNX graph")
    onnx_sha256 = _sha256(onnx_file)
    target = cache_root() / f"{name}-{onnx_sha256[:16]}-ocrtrain{_ocrtrain_version()}"
    if target.is_dir() and not rebuild:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"ocrtrain: building the Paddle program of {name} from {onnx_file} into {target} (once)",
        file=sys.stderr,
    )
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-"))
    try:
        _export(name, task, onnx_sha256, staging)
        if (
            target.is_dir()
        ):  # rebuilding a damaged one: move it aside first (a rename cannot replace a directory)
            discarded = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-damaged-"))
            target.rename(discarded / "old")
            shutil.rmtree(discarded, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # another process finished the same build first: theirs is as good as ours
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
