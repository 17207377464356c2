"""The recognition augmentation's row cut: it takes 1-8 rows off the top or the bottom of a line and never a column,
so the characters the label names stay in the image (the crop it replaced cut into the first and last ones)."""

from __future__ import annotations

import random

import numpy as np

from ocrtrain.data.rec_dataset import CutRows


def _cut(img: np.ndarray, seed: int) -> np.ndarray:
    cut = CutRows(p=1.0)
    cut.set_random_state(np.random.default_rng(seed), random.Random(seed))
    return cut(image=img)["image"]


def test_rows_go_from_the_top_or_the_bottom_never_columns():
    line = np.random.default_rng(0).integers(0, 256, (30, 100, 3), dtype=np.uint8)
    sides = set()
    for seed in range(40):
        out = _cut(line, seed)
        rows = 30 - out.shape[0]
        assert out.shape[1] == 100 and 1 <= rows <= 8, seed
        if np.array_equal(out, line[rows:]):
            sides.add("top")
        else:
            assert np.array_equal(out, line[: 30 - rows]), seed
            sides.add("bottom")
    assert sides == {"top", "bottom"}


def test_lines_under_20_pixels_are_left_whole():
    for shape in ((19, 100, 3), (40, 19, 3)):
        line = np.full(shape, 7, np.uint8)
        assert _cut(line, 0).shape == shape
