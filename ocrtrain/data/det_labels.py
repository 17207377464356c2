"""Detection labels: PaddleOCR / PPOCRLabel ``Label.txt`` lines, and raw ICDAR 2015 ground truth conversion.

A PaddleOCR detection label line is ``<image path relative to the data root><TAB><JSON list>`` where every item
has ``"transcription"`` and ``"points"`` (N >= 3 points ``[x, y]``); ``###`` and ``*`` mark don't-care regions.
PPOCRLabel writes the same format with extra keys (``difficult``, ``key_cls``), which are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ocrtrain.data.common import LabelError, SkipLog

DONT_CARE = {"###", "*"}


@dataclass
class DetSample:
    image_path: Path
    polys: list[np.ndarray]  # each N x 2 float32
    texts: list[str]
    ignore: list[bool]
    source: str  # "label_file:line"
    extra: dict = field(default_factory=dict)

    def text_boxes(self) -> Iterator[tuple[int, np.ndarray, str]]:
        """(index, polygon, text) of every box that is not don't-care."""
        for k, (poly, text, ignore) in enumerate(zip(self.polys, self.texts, self.ignore, strict=True)):
            if not ignore:
                yield k, poly, text


def parse_det_line(
    line: str, root: Path, label_file: str | Path, line_no: int, check_image: bool = True
) -> DetSample:
    """One label line -> DetSample; raises LabelError naming ``label_file:line_no`` and what is wrong."""
    text = line.rstrip("\r\n").lstrip("\ufeff")
    if "\t" not in text:
        raise LabelError(label_file, line_no, "missing tab between image path and JSON labels")
    rel, payload = text.split("\t", 1)
    if not rel.strip():
        raise LabelError(label_file, line_no, "empty image path")
    try:
        items = json.loads(payload)
    except json.JSONDecodeError as e:
        raise LabelError(label_file, line_no, f"bad JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(items, list):
        raise LabelError(label_file, line_no, f"labels must be a JSON list, got {type(items).__name__}")
    polys, texts, ignore = [], [], []
    for k, item in enumerate(items):
        if not isinstance(item, dict) or "points" not in item:
            raise LabelError(
                label_file, line_no, f"item {k}: expected an object with 'points' and 'transcription'"
            )
        transcription = item.get("transcription", "")
        if not isinstance(transcription, str):
            raise LabelError(
                label_file, line_no, f"item {k}: transcription must be a string, got {transcription!r}"
            )
        try:
            points = np.asarray(item["points"], dtype=np.float32)
        except (TypeError, ValueError):
            raise LabelError(
                label_file, line_no, f"item {k}: points are not numbers: {item['points']!r}"
            ) from None
        if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 3:
            raise LabelError(
                label_file, line_no, f"item {k}: points must be N x 2 with N >= 3, got shape {points.shape}"
            )
        if not np.isfinite(points).all():
            raise LabelError(label_file, line_no, f"item {k}: points contain NaN or infinity")
        polys.append(points)
        texts.append(transcription)
        ignore.append(transcription in DONT_CARE)
    image_path = Path(root) / rel
    if check_image and not image_path.is_file():
        raise LabelError(label_file, line_no, f"image not found: {image_path}")
    return DetSample(image_path, polys, texts, ignore, f"{label_file}:{line_no}")


def read_det_labels(
    label_files: list[str | Path], root: str | Path, skip_bad: bool = False
) -> tuple[list[list[DetSample]], SkipLog]:
    """Samples per label file (paths relative to ``root``); bad lines raise, or are skipped and logged."""
    root = Path(root)
    skipped = SkipLog()
    per_file = []
    for label_file in label_files:
        path = root / label_file
        if not path.is_file():
            raise FileNotFoundError(f"label file not found: {path}")
        samples = []
        for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                samples.append(parse_det_line(line, root, path, line_no))
            except LabelError as e:
                if not skip_bad:
                    raise
                skipped.add(e)
        per_file.append(samples)
    return per_file, skipped


def icdar_gt_to_items(
    gt_text: str, gt_file: str | Path, image_size: tuple[int, int] | None = None
) -> list[dict]:
    """Raw ICDAR 2015 ground truth (``x1,y1,...,x4,y4,transcription`` per line, UTF-8 with BOM) -> label items.

    Only the first 8 commas split: transcriptions may contain commas. Points are clipped to the image when its
    (height, width) is given.
    """
    items = []
    for line_no, line in enumerate(gt_text.lstrip("\ufeff").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(",", 8)
        if len(parts) != 9:
            raise LabelError(
                gt_file, line_no, f"expected 8 coordinates and a transcription, got {len(parts)} fields"
            )
        try:
            coords = [int(round(float(v))) for v in parts[:8]]
        except ValueError:
            raise LabelError(gt_file, line_no, f"coordinates are not numbers: {parts[:8]}") from None
        points = [[coords[i], coords[i + 1]] for i in range(0, 8, 2)]
        if image_size is not None:
            h, w = image_size
            points = [[min(max(x, 0), w), min(max(y, 0), h)] for x, y in points]
        items.append({"transcription": parts[8], "points": points})
    return items


def det_label_line(image_rel: str, items: list[dict]) -> str:
    """A PaddleOCR detection label line (UTF-8 text kept as is, not escaped)."""
    return f"{image_rel}\t{json.dumps(items, ensure_ascii=False)}"
