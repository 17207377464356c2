"""The OCR result (docs/architecture.md: result schema) and how it prints, saves and draws itself."""

from __future__ import annotations

import itertools
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# CJK-capable fonts first (Debian's fonts-wqy-microhei / fonts-noto-cjk), DejaVu as the fallback
_FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
]


@lru_cache(maxsize=1)
def font_path() -> str:
    """The first available font of the candidates; matplotlib's bundled DejaVu Sans as the last resort."""
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def _input_file_name(img_path: str | None) -> Path:
    """The input's file name (a URL's without its query); ``result`` for an array."""
    return Path(Path(img_path.split("?")[0]).name if img_path else "result")


def _target_file(save_path: str | Path, img_path: str | None, suffix: str, name: str | None) -> Path:
    """A directory (existing, or given without a suffix) gets a file ``<name>_ocr<suffix>``, ``name`` being the
    input's stem unless given."""
    path = Path(save_path)
    if path.is_dir() or path.suffix == "":
        path = path / f"{name or _input_file_name(img_path).stem or 'result'}_ocr{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class OCRResult(dict):
    """One image's result: ``img_path``, ``dt_polys``, ``dt_scores``, ``rec_text``, ``rec_score`` (reading order)."""

    def __init__(self, data: dict[str, Any], image: np.ndarray | None = None) -> None:
        super().__init__(data)
        self._image = image  # kept for save_to_img; not part of the schema

    @property
    def json(self) -> dict[str, Any]:
        return dict(self)

    def to_json_str(self, indent: int = 4, ensure_ascii: bool = False) -> str:
        return json.dumps(dict(self), indent=indent, ensure_ascii=ensure_ascii)

    def print(self, format_json: bool = True, indent: int = 4, ensure_ascii: bool = False) -> None:
        print(self.to_json_str(indent, ensure_ascii) if format_json else dict(self))

    def save_to_json(
        self, save_path: str | Path, indent: int = 4, ensure_ascii: bool = False, *, name: str | None = None
    ) -> Path:
        target = _target_file(save_path, self["img_path"], ".json", name)
        target.write_text(self.to_json_str(indent, ensure_ascii) + "\n", encoding="utf-8")
        return target

    def visualize(self) -> np.ndarray:
        """Boxes drawn on the image (left) beside the recognised text placed at each box (right), BGR."""
        if self._image is None:
            raise ValueError("this result carries no image to draw on")
        h, w = self._image.shape[:2]
        left = Image.fromarray(cv2.cvtColor(self._image, cv2.COLOR_BGR2RGB))
        right = Image.new("RGB", (w, h), (255, 255, 255))
        draw_left, draw_right = ImageDraw.Draw(left, "RGBA"), ImageDraw.Draw(right)
        rng = np.random.default_rng(0)
        for poly, text in zip(self["dt_polys"], self["rec_text"], strict=True):
            color = tuple(int(c) for c in rng.integers(0, 200, 3))
            points = [tuple(p) for p in poly]
            draw_left.polygon(points, fill=(*color, 70), outline=color)
            draw_right.polygon(points, outline=color)
            quad = np.asarray(poly, dtype=np.float32)
            box_h = max(float(np.linalg.norm(quad[0] - quad[3])), 1.0)
            box_w = max(float(np.linalg.norm(quad[0] - quad[1])), 1.0)
            size = max(int(min(box_h * 0.8, box_w / max(len(text), 1) * 1.6)), 8)
            font = ImageFont.truetype(font_path(), size)
            draw_right.text((quad[0][0] + 2, quad[0][1]), text, fill=(0, 0, 0), font=font)
        canvas = Image.new("RGB", (w * 2, h), (255, 255, 255))
        canvas.paste(left, (0, 0))
        canvas.paste(right, (w, 0))
        return cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR)

    def save_to_img(self, save_path: str | Path, *, name: str | None = None) -> Path:
        target = _target_file(save_path, self["img_path"], ".png", name)
        if not cv2.imwrite(str(target), self.visualize()):
            raise OSError(f"{target}: could not write the visualisation")
        return target


class ResultWriter:
    """Where one run's results go: ``<stem>_ocr.json`` and ``<stem>_ocr.png`` in the ``save_path`` folder, named
    after each input; a later input of the same stem gets its extension in the name (``x_png_ocr.json``), then a
    number, so that no result of the run overwrites an earlier one."""

    def __init__(self, save_path: str | Path) -> None:
        self.folder = Path(save_path)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(
                f"save_path={save_path}: is an existing file; save_path is the folder the results go to "
                "(<input name>_ocr.json and .png)"
            )
        self._taken: set[str] = set()

    def _name(self, img_path: str | None) -> str:
        file_name = _input_file_name(img_path)
        stem, extension = file_name.stem or "result", file_name.suffix.lstrip(".")
        with_extension = f"{stem}_{extension}" if extension else stem
        candidates = itertools.chain(
            [stem, with_extension], (f"{with_extension}_{i}" for i in itertools.count(2))
        )
        name = next(c for c in candidates if c not in self._taken)
        self._taken.add(name)
        return name

    def save(self, result: OCRResult) -> tuple[Path, Path]:
        """Write ``result`` as JSON and as a picture; the two files written."""
        name = self._name(result["img_path"])
        self.folder.mkdir(parents=True, exist_ok=True)  # a folder, even when its name has a suffix
        return result.save_to_json(self.folder, name=name), result.save_to_img(self.folder, name=name)
