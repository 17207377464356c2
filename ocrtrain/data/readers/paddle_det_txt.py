"""PaddleOCR detection labels: ``<image path relative to the data root><TAB><JSON list>`` per line, where every
item has ``"transcription"`` and ``"points"`` (N >= 3 points ``[x, y]``); ``###`` and ``*`` mark don't-care
regions. PPOCRLabel's ``Label.txt`` is the same format with extra keys (``difficult``, ``key_cls``), ignored."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from ocrtrain.components import register
from ocrtrain.data.common import LabelError
from ocrtrain.data.readers.base import DONT_CARE, DetSample, TextLabelReader, looks_like_det, tab_payloads


@register("label_reader", "paddle_det_txt")
class PaddleDetTxt(TextLabelReader):
    kind = "det"

    @classmethod
    def matches(cls, path: Path) -> bool:
        if not path.is_file():
            return False
        votes = Counter(looks_like_det(p) for p in tab_payloads(path))
        return votes[True] > votes[False]

    def parse(self, line: str, line_no: int) -> DetSample:
        file = str(self.path)
        if "\t" not in line:
            raise LabelError(file, line_no, "missing tab between image path and JSON labels")
        rel, payload = line.split("\t", 1)
        if not rel.strip():
            raise LabelError(file, line_no, "empty image path")
        try:
            items = json.loads(payload)
        except json.JSONDecodeError as e:
            # the column counts from the line's start, as an editor shows it, not from the tab
            column = len(rel) + 1 + e.colno
            hint = ""
            if not payload.lstrip().startswith(("[", "{")):  # plain text after the tab
                hint = "; this looks like a recognition label (image<TAB>text): a rec= model reads those"
            raise LabelError(file, line_no, f"bad JSON ({e.msg} at column {column}){hint}") from None
        if not isinstance(items, list):
            raise LabelError(file, line_no, f"labels must be a JSON list, got {type(items).__name__}")
        polys, texts = [], []
        for k, item in enumerate(items):
            if not isinstance(item, dict) or "points" not in item:
                raise LabelError(
                    file, line_no, f"item {k}: expected an object with 'points' and 'transcription'"
                )
            transcription = item.get("transcription", "")
            if not isinstance(transcription, str):
                raise LabelError(
                    file, line_no, f"item {k}: transcription must be a string, got {transcription!r}"
                )
            try:
                points = np.asarray(item["points"], dtype=np.float32)
            except (TypeError, ValueError):
                raise LabelError(
                    file, line_no, f"item {k}: points are not numbers: {item['points']!r}"
                ) from None
            if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 3:
                raise LabelError(
                    file, line_no, f"item {k}: points must be N x 2 with N >= 3, got shape {points.shape}"
                )
            if not np.isfinite(points).all():
                raise LabelError(file, line_no, f"item {k}: points contain NaN or infinity")
            polys.append(points)
            texts.append(transcription)
        ignore = [t in DONT_CARE for t in texts]
        return DetSample(self.root / rel, polys, texts, ignore, file, line_no)
