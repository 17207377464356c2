"""Text detection metric: the ICDAR 2015 protocol as PaddleOCR reports it (``precision``, ``recall``, ``hmean``).

Per image: don't-care ground truth (``###``) is set aside; a detection whose area lies more than half inside a
don't-care box is set aside too; the remaining pairs are matched one-to-one, greedily in order, when their IoU is
above 0.5. Over a dataset the counts are summed before dividing (micro average).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from shapely.geometry import Polygon

IOU_THRESHOLD = 0.5
DONT_CARE_OVERLAP = 0.5


def _polygon(points: np.ndarray) -> Polygon | None:
    poly = Polygon(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    return poly if poly.is_valid and poly.area > 0 else None


def evaluate_image(
    gt_polys: Sequence[np.ndarray], gt_ignore: Sequence[bool], det_polys: Sequence[np.ndarray]
) -> dict[str, float]:
    """Counts and per-image precision/recall for one image (invalid or zero-area polygons are dropped)."""
    gts = [
        (p, bool(ign)) for p, ign in ((_polygon(g), i) for g, i in zip(gt_polys, gt_ignore, strict=True)) if p
    ]
    dets = [p for p in (_polygon(d) for d in det_polys) if p]
    dont_care_gt = [p for p, ign in gts if ign]
    care_gt = [p for p, ign in gts if not ign]
    care_det = []
    for det in dets:
        inside = max((det.intersection(g).area for g in dont_care_gt), default=0.0) / det.area
        if inside <= DONT_CARE_OVERLAP:
            care_det.append(det)
    matched = 0
    gt_used, det_used = [False] * len(care_gt), [False] * len(care_det)
    for gi, gt in enumerate(care_gt):
        for di, det in enumerate(care_det):
            if gt_used[gi] or det_used[di]:
                continue
            inter = gt.intersection(det).area
            union = gt.area + det.area - inter
            if union > 0 and inter / union > IOU_THRESHOLD:
                gt_used[gi] = det_used[di] = True
                matched += 1
    n_gt, n_det = len(care_gt), len(care_det)
    recall = matched / n_gt if n_gt else 1.0
    precision = matched / n_det if n_det else (1.0 if n_gt == 0 else 0.0)
    return {"gt_care": n_gt, "det_care": n_det, "matched": matched, "precision": precision, "recall": recall}


def combine(per_image: Sequence[dict[str, float]]) -> dict[str, float]:
    """Dataset precision/recall/hmean from per-image counts (micro average, as PaddleOCR)."""
    matched = sum(r["matched"] for r in per_image)
    n_gt = sum(r["gt_care"] for r in per_image)
    n_det = sum(r["det_care"] for r in per_image)
    recall = matched / n_gt if n_gt else 0.0
    precision = matched / n_det if n_det else 0.0
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean}
