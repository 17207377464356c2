"""DB post-processing on synthetic probability maps whose boxes are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from ocrtrain.components import build
from ocrtrain.postprocess.db import DBPostProcess, db_boxes


def prob_map(shape, *rects):
    """A probability map with value ``p`` on each (x0, y0, x1, y1, p) rectangle (inclusive pixels)."""
    prob = np.zeros(shape, np.float32)
    for x0, y0, x1, y1, p in rects:
        prob[y0 : y1 + 1, x0 : x1 + 1] = p
    return prob


def grown(x0, y0, x1, y1, ratio=1.5):
    """DB's unclip of the kernel's rectangle: every side moves out by area * ratio / perimeter."""
    w, h = x1 - x0, y1 - y0
    d = w * h * ratio / (2 * (w + h))
    return np.array([[x0 - d, y0 - d], [x1 + d, y0 - d], [x1 + d, y1 + d], [x0 - d, y1 + d]])


def test_rectangles_come_back_grown_by_the_unclip_distance_in_reading_corner_order():
    prob = prob_map((200, 300), (20, 30, 119, 59, 0.9), (150, 120, 279, 169, 0.8))
    quads, scores = db_boxes(prob, (200, 300))
    assert quads.shape == (2, 4, 2)
    order = np.argsort(quads[:, 0, 0])
    for quad, expected in zip(quads[order], [grown(20, 30, 119, 59), grown(150, 120, 279, 169)], strict=True):
        assert np.abs(quad - np.clip(expected, 0, [300, 200])).max() <= 1.5  # tl, tr, br, bl
    assert sorted(scores.tolist()) == pytest.approx([0.8, 0.9])


def test_boxes_are_reported_in_destination_pixels():
    prob = prob_map((100, 150), (20, 30, 79, 49, 0.9))
    (quad,), _ = db_boxes(prob, (200, 300))  # the original image is twice the map's size
    assert np.abs(quad - 2 * grown(20, 30, 79, 49)).max() <= 3


def test_weak_and_tiny_regions_are_dropped():
    prob = prob_map(
        (100, 200),
        (10, 10, 80, 30, 0.5),  # above the binarisation threshold, below box_thresh 0.6
        (120, 50, 121, 51, 0.99),  # 2 x 2: under min_size
    )
    quads, scores = db_boxes(prob, (100, 200))
    assert quads.shape == (0, 4, 2) and scores.shape == (0,)
    kept, _ = db_boxes(prob, (100, 200), DBPostProcess(box_thresh=0.4))
    assert len(kept) == 1


def test_max_candidates_and_score_mode():
    rects = [(10 + 40 * i, 10, 40 + 40 * i, 30, 0.9) for i in range(4)]
    prob = prob_map((60, 200), *rects)
    assert len(db_boxes(prob, (60, 200), DBPostProcess(max_candidates=2))[0]) == 2
    slow, _ = db_boxes(prob, (60, 200), DBPostProcess(score_mode="slow"))
    assert len(slow) == 4
    with pytest.raises(ValueError, match="score_mode"):
        db_boxes(prob, (60, 200), DBPostProcess(score_mode="median"))


def test_registered_as_the_component_inference_yml_names():
    post = build(
        "postprocess", {"name": "DBPostProcess", "thresh": 0.3, "box_thresh": 0.7, "unclip_ratio": 2.0}
    )
    assert post == DBPostProcess(box_thresh=0.7, unclip_ratio=2.0)
    prob = prob_map((100, 200), (20, 30, 119, 59, 0.9))
    (quad,), _ = post(prob, (100, 200))
    assert np.abs(quad - np.clip(grown(20, 30, 119, 59, 2.0), 0, [200, 100])).max() <= 1.5
