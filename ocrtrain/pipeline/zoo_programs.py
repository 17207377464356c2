"""Zoo models in the form an engine needs that their wheel does not ship: the ONNX-shipped ones (PP-OCRv5,
PP-OCRv6) as Paddle inference programs, the PP-OCRv4 ones (legacy Paddle programs) as ONNX graphs.

The first use of such a name builds the model from its composed config, loads the shipped weights (an ONNX graph's
are checked against ONNX Runtime on load) and exports it like a trained model (PP-OCRv4: with ``inference.onnx``,
checked against the model by running it in ONNX Runtime) into a per-user cache (``~/.cache/ocrtrain/zoo``;
``OCRTRAIN_CACHE`` moves it), keyed by the sha256 of the shipped weights file and ocrtrain's version. Later uses
take the cached directory after checking every file against the sha256 recorded when it was built (``files.sha256``):
a file truncated, changed or missing since is reported and the directory rebuilt. A build goes to a temporary
directory renamed into place at the end, so a process that is stopped, or two building at once, never leave a
half-written directory behind.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import yaml

from ocrtrain.cache import cache_dir
from ocrtrain.pipeline.configs import zoo_model_config
from ocrtrain.pipeline.inference_settings import zoo_inference_yml
from ocrtrain.pipeline.model_files import ModelSource, ModelSourceError
from ocrtrain.zoo import zoo_entry, zoo_model_dir, zoo_onnx_file

MANIFEST = "files.sha256"  # '<sha256>  <file name>' per built file

# width of the random input a converted graph is checked on (det: also its height; rec, cls: their own height)
_PROBE_WIDTH = {"det": 320, "rec": 320, "cls": 192}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(directory: Path) -> None:
    files = sorted(f for f in directory.iterdir() if f.is_file() and f.name != MANIFEST)
    (directory / MANIFEST).write_text("".join(f"{_sha256(f)}  {f.name}\n" for f in files), "utf-8")


def _damage(directory: Path) -> str | None:
    """What is wrong with a cached directory (a file missing or not as built), or None."""
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return f"{manifest} is missing"
    for line in manifest.read_text("utf-8").splitlines():
        digest, _, file_name = line.partition("  ")
        path = directory / file_name
        if not path.is_file():
            return f"{path} is missing"
        if _sha256(path) != digest:
            return f"{path} is not the file that was built"
    return None


def _ocrtrain_version() -> str:
    try:
        return importlib.metadata.version("ocrtrain")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "source"


def _check_onnx(onnx_file: Path, probe: np.ndarray, expected: np.ndarray) -> None:
    """Refuse a converted graph whose output on ``probe`` differs from the Paddle model's (``expected``)."""
    import onnxruntime as ort

    from ocrtrain.models.export import PARITY_TOLERANCE

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: probe})[0]
    diff = float(np.abs(got - expected).max())
    if diff > PARITY_TOLERANCE:
        raise ModelSourceError(
            f"{onnx_file}: the converted ONNX graph differs from the model by {diff:.2e} (tolerance "
            f"{PARITY_TOLERANCE:.0e}); not used"
        )


def _export_trainable(name: str, task: str, cfg: dict, out_dir: Path, probe: np.ndarray) -> np.ndarray:
    """Build the model of ``cfg``, load the shipped weights, save it as a program; its output on ``probe``."""
    import paddle

    from ocrtrain.data.dictionary import CharDict
    from ocrtrain.models.builder import build_model
    from ocrtrain.models.export import save_inference
    from ocrtrain.models.loading import load_pretrained

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
    with paddle.no_grad():
        return model(paddle.to_tensor(probe)).numpy()  # eval mode: the one output the program has


def _copy_shipped_program(name: str, task: str, out_dir: Path, probe: np.ndarray) -> np.ndarray:
    """A model we only run (the orientation classifier): its shipped program as is; its output on ``probe``."""
    from ocrtrain.pipeline.predictor import load_predictor

    for file_name in ("inference.pdmodel", "inference.pdiparams"):
        shutil.copyfile(zoo_model_dir(name) / file_name, out_dir / file_name)
    source = ModelSource(name, task, out_dir / "inference.pdmodel", out_dir / "inference.pdiparams")
    return load_predictor(source, "cpu", "paddle", enable_mkldnn=False)(probe)


def _export(name: str, task: str, weights_sha256: str, out_dir: Path, with_onnx: bool) -> None:
    from ocrtrain.models.export import save_onnx

    cfg = zoo_model_config(name, task)
    height = int(cfg["image_shape"][0]) if "image_shape" in cfg else _PROBE_WIDTH[task]
    probe = np.random.default_rng(0).standard_normal((1, 3, height, _PROBE_WIDTH[task])).astype("float32")
    if "arch" in cfg:
        expected = _export_trainable(name, task, cfg, out_dir, probe)
    else:
        expected = _copy_shipped_program(name, task, out_dir, probe)
    if with_onnx:
        _check_onnx(save_onnx(out_dir), probe, expected)
    meta = zoo_inference_yml(name, task)
    meta["ocrtrain"] = {"task": task, "zoo_name": name, "weights_sha256": weights_sha256}
    (out_dir / "inference.yml").write_text(yaml.safe_dump(meta, allow_unicode=True, sort_keys=False), "utf-8")
    _write_manifest(out_dir)


def zoo_program_dir(name: str) -> Path:
    """The cached exported directory of the zoo model ``name``, built on first use (rebuilt when damaged): a Paddle
    program for an ONNX-shipped model, a Paddle program and ``inference.onnx`` for a PP-OCRv4 one."""
    task = zoo_entry(name).task
    onnx_file = zoo_onnx_file(name)
    with_onnx = onnx_file is None
    weights = zoo_model_dir(name) / "inference.pdiparams" if with_onnx else onnx_file
    if with_onnx and importlib.util.find_spec("paddle2onnx") is None:
        raise ModelSourceError(
            f"{name}: running it on an ONNX engine converts it to ONNX once, which needs paddle2onnx: "
            "pip install 'ocrtrain[onnx]' (or use backend=paddle)"
        )
    weights_sha256 = _sha256(weights)
    target = cache_dir("zoo") / f"{name}-{weights_sha256[:16]}-ocrtrain{_ocrtrain_version()}"
    if target.is_dir():
        damage = _damage(target)
        if damage is None:
            return target
        print(f"ocrtrain: the cached program of {name} is damaged ({damage}); rebuilding it", file=sys.stderr)
    target.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"ocrtrain: building the {'ONNX graph' if with_onnx else 'Paddle program'} of {name} from {weights} "
        f"into {target} (once)",
        file=sys.stderr,
    )
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-"))
    try:
        _export(name, task, weights_sha256, staging, with_onnx)
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
