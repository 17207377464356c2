"""The ICDAR 2015 detection protocol on cases whose numbers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ocrtrain.metrics.det_metric import combine, evaluate_image, recall_by_height


def box(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def test_perfect_detection():
    gts = [box(0, 0, 10, 10), box(20, 0, 30, 10)]
    r = evaluate_image(gts, [False, False], gts)
    assert (r["matched"], r["precision"], r["recall"]) == (2, 1.0, 1.0)
    assert combine([r])["hmean"] == 1.0


def test_half_found_and_one_false_positive():
    gts = [box(0, 0, 10, 10), box(20, 0, 30, 10)]
    r = evaluate_image(gts, [False, False], [box(0, 0, 10, 10), box(50, 50, 60, 60)])
    assert (r["matched"], r["precision"], r["recall"]) == (1, 0.5, 0.5)


def test_iou_must_be_above_one_half():
    gt = [box(0, 0, 30, 10)]
    # shifted by 10: overlap 20 x 10 over union 40 x 10 -> IoU exactly 0.5 -> not a match
    assert evaluate_image(gt, [False], [box(10, 0, 40, 10)])["matched"] == 0
    assert evaluate_image(gt, [False], [box(9, 0, 39, 10)])["matched"] == 1  # IoU 21/39 = 0.538


def test_dont_care_regions_are_neither_missed_nor_false_positives():
    gts = [box(0, 0, 10, 10), box(100, 100, 200, 130)]
    r = evaluate_image(gts, [False, True], [box(0, 0, 10, 10), box(110, 105, 190, 125)])
    assert (r["gt_care"], r["det_care"], r["matched"]) == (1, 1, 1)
    assert r["precision"] == r["recall"] == 1.0


def test_one_to_one_matching():
    gt = [box(0, 0, 10, 10)]
    r = evaluate_image(gt, [False], [box(0, 0, 10, 10), box(0, 0, 10, 10)])
    assert (r["matched"], r["precision"]) == (1, 0.5)


def test_dataset_numbers_are_micro_averaged():
    a = {"gt_care": 4, "det_care": 2, "matched": 2}
    b = {"gt_care": 1, "det_care": 3, "matched": 1}
    m = combine([a, b])
    assert m["recall"] == pytest.approx(3 / 5) and m["precision"] == pytest.approx(3 / 5)
    assert m["hmean"] == pytest.approx(0.6)
    assert combine([{"gt_care": 0, "det_care": 0, "matched": 0}])["hmean"] == 0.0


def test_recall_is_broken_down_by_word_height():
    # words 6, 12, 24 and 40 px high (a turned one: its height is the rotated rectangle's short side), one missed
    tilted = np.array([[100, 100], [200, 130], [188, 170], [88, 140]], np.float32)  # ~41.8 px high
    gts = [box(0, 0, 50, 6), box(0, 20, 60, 32), box(0, 40, 90, 64), tilted]
    first = evaluate_image(gts, [False] * 4, [box(0, 20, 60, 32), tilted])
    assert first["gt_heights"][:3] == [6.0, 12.0, 24.0] and 41 < first["gt_heights"][3] < 43
    assert first["gt_found"] == [False, True, False, True]
    # a don't-care word counts in no bucket; a second image's 24-px word is found
    second = evaluate_image([box(0, 0, 90, 24), box(0, 40, 60, 52)], [False, True], [box(0, 0, 90, 24)])
    assert recall_by_height([first, second]) == {
        "recall_height_lt8": 0.0,
        "recall_height_8-16": 1.0,
        "recall_height_16-32": 0.5,
        "recall_height_32-64": 1.0,
    }
