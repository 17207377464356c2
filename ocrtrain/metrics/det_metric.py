"""Text detection metric: the ICDAR 2015 protocol as PaddleOCR reports it (``precision``, ``recall``, ``hmean``).

Per image: don't-care ground truth (``###``) is set aside; a detection whose area lies more than half inside a
don't-care box is set aside too; the remaining pairs are matched one-to-one, greedily in order, when their IoU is
above 0.5. Over a dataset the counts are summed before dividing (micro average).

Recall is also broken down by word height (``recall_height_<bucket>``, in pixels of the original image): which words
a model misses, e.g. the small ones a fine-tune loses first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from shapely.geometry import Polygon

from ocrtrain.crop import box_sides

IOU_THRESHOLD = 0.5
DONT_CARE_OVERLAP = 0.5
HEIGHT_EDGES = (8, 16, 32, 64)  # word-height buckets (px): under 8, 8-16, 16-32, 32-64, 64 and over


def _polygon(points: np.ndarray) -> Polygon | None:
    poly = Polygon(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    return poly if poly.is_valid and poly.area > 0 else None


@dataclass(frozen=True)
class _Boxes:
    polys: list[Polygon]
    bounds: np.ndarray  # N x 4: xmin, ymin, xmax, ymax

    @classmethod
    def of(cls, polys: list[Polygon]) -> _Boxes:
        return cls(polys, np.array([p.bounds for p in polys], np.float64).reshape(-1, 4))

    def near(self, xmin: float, ymin: float, xmax: float, ymax: float) -> np.ndarray:
        """Indices of the boxes whose bounding box overlaps the given one (the others intersect in area 0)."""
        b = self.bounds
        return np.flatnonzero((b[:, 0] < xmax) & (xmin < b[:, 2]) & (b[:, 1] < ymax) & (ymin < b[:, 3]))


@dataclass(frozen=True)
class GroundTruth:
    """One image's ground truth as polygons, built once however many detection sets are scored against it."""

    care: _Boxes
    dont_care: _Boxes

    @classmethod
    def of(cls, gt_polys: Sequence[np.ndarray], gt_ignore: Sequence[bool]) -> GroundTruth:
        polys = [(_polygon(g), bool(i)) for g, i in zip(gt_polys, gt_ignore, strict=True)]
        return cls(
            _Boxes.of([p for p, ign in polys if p and not ign]),
            _Boxes.of([p for p, ign in polys if p and ign]),
        )

    def care_heights(self) -> list[float]:
        """Each counted word's height: the short side of its smallest enclosing rotated rectangle."""
        return [round(box_sides(np.asarray(poly.exterior.coords)[:-1])[0], 1) for poly in self.care.polys]


def _counts(matched: int, n_gt: int, n_det: int) -> dict[str, float]:
    recall = matched / n_gt if n_gt else 1.0
    precision = matched / n_det if n_det else (1.0 if n_gt == 0 else 0.0)
    return {"gt_care": n_gt, "det_care": n_det, "matched": matched, "precision": precision, "recall": recall}


@dataclass(frozen=True)
class MatchTable:
    """What one image's matching needs, computed once for a list of detections so that any subset of them can be
    scored without touching a polygon again (post-process tuning scores thousands of subsets)."""

    gt_care: int  # ground-truth boxes that count
    det_care: np.ndarray  # per detection: a valid polygon not lying mostly inside a don't-care box
    pairs: np.ndarray  # gt_care x detections: IoU above the threshold

    def found(self, keep: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Which counted ground-truth boxes the detections in ``keep`` (a boolean mask; None = all) match, and how
        many of those detections count."""
        care = self.det_care if keep is None else self.det_care & keep
        det_ids = np.flatnonzero(care)
        gt_found = np.zeros(self.gt_care, bool)
        det_used = np.zeros(len(care), bool)
        for gi, row in enumerate(self.pairs[:, det_ids] if len(det_ids) else ()):
            for di in det_ids[row]:  # greedy, in order: the first free detection above the IoU wins
                if not det_used[di]:
                    det_used[di] = gt_found[gi] = True
                    break
        return gt_found, len(det_ids)

    def counts(self, keep: np.ndarray | None = None) -> dict[str, float]:
        """Counts and per-image precision/recall for the detections in ``keep`` (a boolean mask; None = all)."""
        gt_found, n_det = self.found(keep)
        return _counts(int(gt_found.sum()), self.gt_care, n_det)


def match_table(gt: GroundTruth, det_polys: Sequence[np.ndarray]) -> MatchTable:
    """The matching facts of one image (invalid or zero-area polygons never count)."""
    det_care = np.zeros(len(det_polys), bool)
    pairs = np.zeros((len(gt.care.polys), len(det_polys)), bool)
    for di, points in enumerate(det_polys):
        det = _polygon(points)
        if det is None:
            continue
        box = det.bounds
        inside = max(
            (det.intersection(gt.dont_care.polys[g]).area for g in gt.dont_care.near(*box)), default=0.0
        )
        if inside / det.area > DONT_CARE_OVERLAP:
            continue
        det_care[di] = True
        for gi in gt.care.near(*box):
            care = gt.care.polys[gi]
            inter = care.intersection(det).area
            union = care.area + det.area - inter
            pairs[gi, di] = union > 0 and inter / union > IOU_THRESHOLD
    return MatchTable(len(gt.care.polys), det_care, pairs)


def evaluate_image(
    gt_polys: Sequence[np.ndarray], gt_ignore: Sequence[bool], det_polys: Sequence[np.ndarray]
) -> dict[str, Any]:
    """Counts and per-image precision/recall for one image (invalid or zero-area polygons are dropped), with each
    counted word's height and whether it was found (``gt_heights``, ``gt_found``: for :func:`recall_by_height`)."""
    gt = GroundTruth.of(gt_polys, gt_ignore)
    table = match_table(gt, det_polys)
    gt_found, n_det = table.found()
    return {
        **_counts(int(gt_found.sum()), table.gt_care, n_det),
        "gt_heights": gt.care_heights(),
        "gt_found": gt_found.tolist(),
    }


def _height_bucket(lo: float | None, hi: float | None) -> str:
    return f"lt{hi}" if lo is None else f"ge{lo}" if hi is None else f"{lo}-{hi}"


def recall_by_height(per_image: Sequence[dict[str, Any]]) -> dict[str, float]:
    """``recall_height_<bucket>`` over the words of every image (from :func:`evaluate_image`), for the buckets of
    :data:`HEIGHT_EDGES` that hold words."""
    heights = np.array([h for r in per_image for h in r["gt_heights"]], np.float64)
    found = np.array([f for r in per_image for f in r["gt_found"]], bool)
    bucket_of = np.searchsorted(HEIGHT_EDGES, heights, side="right")
    bounds = [None, *HEIGHT_EDGES, None]
    return {
        f"recall_height_{_height_bucket(bounds[b], bounds[b + 1])}": float(found[bucket_of == b].mean())
        for b in range(len(HEIGHT_EDGES) + 1)
        if (bucket_of == b).any()
    }


def combine(per_image: Sequence[dict[str, float]]) -> dict[str, float]:
    """Dataset precision/recall/hmean from per-image counts (micro average, as PaddleOCR)."""
    matched = sum(r["matched"] for r in per_image)
    n_gt = sum(r["gt_care"] for r in per_image)
    n_det = sum(r["det_care"] for r in per_image)
    recall = matched / n_gt if n_gt else 0.0
    precision = matched / n_det if n_det else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean(precision, recall)}


def hmean(precision: float, recall: float) -> float:
    """The harmonic mean of precision and recall, 0 when both are."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
