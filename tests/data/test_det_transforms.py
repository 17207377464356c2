"""DB training targets on a known square: the values the DB paper's definitions fix (shrink offset
D = A(1 - r^2)/L, threshold 1 - distance/D scaled into [thresh_min, thresh_max])."""

from __future__ import annotations

import numpy as np
import pytest

from ocrtrain.data.det_transforms import shrink_map, threshold_map

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
