"""Raw ICDAR 2015 ground truth to PaddleOCR detection label lines (read by readers/paddle_det_txt.py)."""

from __future__ import annotations

import json
from pathlib import Path

from ocrtrain.data.common import LabelError, text_lines


def icdar_gt_to_items(gt_file: str | Path, image_size: tuple[int, int] | None = None) -> list[dict]:
    """A raw ICDAR 2015 ground-truth file (``x1,y1,...,x4,y4,transcription`` per line, UTF-8 with BOM) -> label items.

    Only the first 8 commas split: transcriptions may contain commas. Points are clipped to the image when its
    (height, width) is given.
    """
    items = []
    for line_no, line in text_lines(gt_file):
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
