"""Shared fixtures: the repository's demo data and one real pipeline per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "datasets" / "icdar2015_demo"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

sys.path.insert(0, str(REPO / "scripts"))  # the benchmark scripts hold the configured peer (RapidOCR)


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def ocr_pipeline():
    from ocrtrain import create_pipeline

    return create_pipeline("OCR", device="cpu")


def render_lines(lines: list[str], font_size: int = 48, size: tuple[int, int] = (1000, 420)) -> np.ndarray:
    """White BGR image with ``lines`` written top to bottom in DejaVu Sans."""
    font_file = DEJAVU if Path(DEJAVU).is_file() else None
    if font_file is None:
        import matplotlib

        font_file = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    font = ImageFont.truetype(font_file, font_size)
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * int(font_size * 2.2)), line, fill=(0, 0, 0), font=font)
    return np.asarray(img)[:, :, ::-1].copy()
