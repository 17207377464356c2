"""Picture sheets for reports: images with polygons drawn, and text-line crops captioned with their texts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

GREEN, GREY, RED = (0, 200, 0), (160, 160, 160), (0, 0, 255)  # BGR


def draw_polygons(
    img: np.ndarray, polys: Sequence[np.ndarray], color: tuple[int, int, int], thickness: int = 2
) -> np.ndarray:
    """Draw closed polygons on ``img`` in place (and return it)."""
    for poly in polys:
        cv2.polylines(img, [np.asarray(poly, np.float32).round().astype(np.int32)], True, color, thickness)
    return img


def image_sheet(images: list[np.ndarray], path: str | Path, tile_width: int = 640, cols: int = 2) -> Path:
    """Tile BGR images (each scaled to ``tile_width``) into a grid and write it to ``path``."""
    if not images:
        raise ValueError("no images to put on the sheet")
    tiles = [
        cv2.resize(im, (tile_width, max(1, round(tile_width * im.shape[0] / im.shape[1])))) for im in images
    ]
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
    rows = [np.concatenate(tiles[i : i + cols], axis=1) for i in range(0, len(tiles), cols)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(rows, axis=0))
    return path


def caption_sheet(
    rows: list[tuple[np.ndarray, list[tuple[str, tuple[int, int, int]]]]], path: str | Path
) -> Path:
    """One row per text-line crop (BGR): the crop at height 48, then its captions as ``(text, RGB colour)``."""
    from PIL import Image, ImageDraw, ImageFont

    from ocrtrain.pipeline.result import font_path

    row_height = 30 + 26 * max((len(captions) for _, captions in rows), default=1)
    font = ImageFont.truetype(font_path(), 18)
    sheet = Image.new("RGB", (760, row_height * max(len(rows), 1)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (crop, captions) in enumerate(rows):
        top = row_height * r + 10
        width = min(320, max(1, round(crop.shape[1] * 48 / crop.shape[0])))
        sheet.paste(
            Image.fromarray(cv2.cvtColor(cv2.resize(crop, (width, 48)), cv2.COLOR_BGR2RGB)), (10, top)
        )
        for k, (text, color) in enumerate(captions):
            draw.text((340, top + 26 * k), text, fill=color, font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
