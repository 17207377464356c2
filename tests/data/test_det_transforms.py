"""DB training targets on a known square: the values the DB paper's definitions fix (shrink offset
D = A(1 - r^2)/L, threshold 1 - distance/D scaled into [thresh_min, thresh_max]); the training crop on an image
crowded with don't-care text."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocrtrain.data.det_transforms import copy_paste, shrink_map, text_keeping_crop, threshold_map

SQUARE = np.array([[50, 50], [150, 50], [150, 150], [50, 150]], np.float32)  # A = 10000, L = 400
D = 10000 * (1 - 0.4**2) / 400  # 21 px


def test_shrink_map_is_the_square_shrunk_by_d():
    gt, mask = shrink_map((200, 200), [SQUARE], [False])
    assert mask.min() == 1  # nothing ignored
    ys, xs = np.nonzero(gt)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (71, 129, 71, 129)  # 50 + 21 .. 150 - 21
    assert gt[100, 100] == 1 and gt[60, 60] == 0 and gt[10, 10] == 0
    assert set(np.unique(gt)) == {0.0, 1.0}


def test_dont_care_and_too_small_text_are_masked_not_targets():
    small = np.array([[10, 10], [40, 10], [40, 15], [10, 15]], np.float32)  # 5 px high < min_text_size 8
    gt, mask = shrink_map((200, 200), [SQUARE, small], [True, False])
    assert gt.max() == 0
    assert mask[100, 100] == 0 and mask[12, 20] == 0 and mask[190, 190] == 1


def test_threshold_map_peaks_on_the_border_and_falls_off_over_d():
    thresh, mask = threshold_map((200, 200), [SQUARE], [False])
    assert thresh[50, 100] == pytest.approx(0.7)  # on the top edge: distance 0
    assert thresh[40, 100] == pytest.approx(0.3 + 0.4 * (1 - 10 / D))  # 10 px outside
    assert thresh[60, 100] == pytest.approx(0.3 + 0.4 * (1 - 10 / D))  # 10 px inside
    assert thresh[100, 100] == pytest.approx(0.3)  # farther than D from every edge
    assert thresh[5, 5] == pytest.approx(0.3) and mask[5, 5] == 0  # outside the polygon dilated by D
    assert mask[100, 100] == 1 and mask[50 - 20, 100] == 1 and mask[50 - 23, 100] == 0
    assert thresh.min() == pytest.approx(0.3) and thresh.max() == pytest.approx(0.7)


def _box(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def test_every_crop_holds_a_word_to_learn_and_masks_the_dont_care_text_it_cuts():
    """As on ICDAR 2015, most boxes are don't-care ('###'): a crop must still hold text to learn (the crop before
    this rule had none in 81 of 100 seeds here), and don't-care text the crop cuts through stays masked, never
    taught as background."""
    img = np.full((800, 1000, 3), 128, np.uint8)
    img[60:100, 60:200] = (0, 255, 0)  # the one word to learn
    dont_care = [(300, 250, 450, 290), (500, 400, 650, 440), (700, 600, 850, 640)]
    for x0, y0, x1, y1 in dont_care:
        img[y0:y1, x0:x1] = (0, 0, 255)
    polys = [_box(60, 60, 200, 100), *(_box(*b) for b in dont_care)]  # each don't-care box is 150 x 40
    cut = 0
    for seed in range(30):
        crop, kept, ignore = text_keeping_crop(
            img, polys, [False, True, True, True], np.random.default_rng(seed)
        )
        assert ignore.count(False) == 1, seed  # the word, whole
        gt, mask = shrink_map(crop.shape[:2], kept, ignore)
        assert gt.sum() > 0, seed
        red = (crop[..., 2] > 200) & (crop[..., 1] < 50)
        inner = cv2.erode(red.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(
            bool
        )  # resizing blurs edges
        assert not (inner & (mask == 1)).any(), f"seed {seed}: visible don't-care text is not masked"
        for poly in kept:  # clipped to the crop
            assert poly.min() >= 0 and poly.max() <= 640, seed
        scale = np.ptp(kept[ignore.index(False)][:, 0]) / 140  # the whole word's width in the crop
        cut += any(
            ign and cv2.contourArea(p) < 0.95 * 150 * 40 * scale**2
            for p, ign in zip(kept, ignore, strict=True)
        )
    assert cut >= 3  # crops that cut don't-care text happened, so the masking above was exercised


@pytest.mark.parametrize("seed", range(6))
def test_copy_paste_adds_a_donors_word_to_learn_where_no_text_is(seed):
    """PaddleOCR's CopyPaste: a word to learn of another image (never a don't-care one) pasted, turned by a random
    angle, onto a free part of this image, with its box; nothing else in the image changes."""
    img = np.full((300, 400, 3), 128, np.uint8)
    own = _box(20, 20, 120, 60)
    donor = np.full((200, 300, 3), 128, np.uint8)
    donor[50:80, 40:160] = (0, 255, 0)  # the donor's word to learn
    donor[120:150, 40:160] = (0, 0, 255)  # its don't-care text
    out, polys, ignore = copy_paste(
        img,
        [own],
        [False],
        (donor, [_box(40, 50, 160, 80), _box(40, 120, 160, 150)], [False, True]),
        np.random.default_rng(seed),
    )
    assert ignore == [False, False] and np.array_equal(polys[0], own)
    pasted = polys[1]
    assert cv2.contourArea(pasted) == pytest.approx(120 * 30, rel=0.02)  # the word's box, turned
    inside = np.zeros((300, 400), np.uint8)
    cv2.fillPoly(inside, [pasted.round().astype(np.int32)], 1)
    green = (out[..., 1] > 200) & (out[..., 2] < 50)
    assert green[inside == 1].mean() > 0.9 and not green[inside == 0].any()
    assert not ((out[..., 2] > 200) & (out[..., 1] < 50)).any()  # the don't-care word stays behind
    changed = (out != img).any(axis=2)
    near = cv2.dilate(
        inside, np.ones((5, 5), np.uint8)
    )  # the pasted pixels' edge is rasterised, the box exact
    assert not changed[20:60, 20:120].any() and not changed[near == 0].any()
