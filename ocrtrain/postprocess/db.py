"""DB post-processing: probability map -> scored text quadrilaterals. One implementation for eval and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper
from shapely.geometry import Polygon

from ocrtrain.components import register
from ocrtrain.crop import order_quad

# how a box is scored: "fast" over its quad, "slow" over its exact contour
SCORE_MODES = ("fast", "slow")


@register("postprocess", "DBPostProcess")
@dataclass(frozen=True)
class DBPostProcess:
    """The DB post-process with its values (as in inference.yml's PostProcess); call it on a probability map."""

    thresh: float = 0.3  # binarisation threshold of the probability map
    box_thresh: float = 0.6  # minimum mean probability inside a box
    unclip_ratio: float = 1.5  # how far the shrunk kernel is grown back (DB's offset D = A * r / L)
    max_candidates: int = 1000
    score_mode: str = "fast"  # "fast": mean over the box's quad, "slow": over the exact contour
    use_dilation: bool = False
    min_size: int = 3

    def __call__(self, prob: np.ndarray, dest_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return db_boxes(prob, dest_size, self)


def _min_area_quad(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle around ``points`` as tl, tr, br, bl, and its shorter side."""
    rect = cv2.minAreaRect(points.reshape(-1, 1, 2).astype(np.float32))
    return order_quad(cv2.boxPoints(rect)), min(rect[1])


def _mean_score(prob: np.ndarray, polygon: np.ndarray) -> float:
    """Mean probability inside ``polygon`` (computed on its bounding window only)."""
    h, w = prob.shape
    xmin = int(np.clip(np.floor(polygon[:, 0].min()), 0, w - 1))
    xmax = int(np.clip(np.ceil(polygon[:, 0].max()), 0, w - 1))
    ymin = int(np.clip(np.floor(polygon[:, 1].min()), 0, h - 1))
    ymax = int(np.clip(np.ceil(polygon[:, 1].max()), 0, h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    shifted = polygon.copy()
    shifted[:, 0] -= xmin
    shifted[:, 1] -= ymin
    cv2.fillPoly(mask, [shifted.astype(np.int32)], 1)  # truncation, as PaddleOCR
    return float(cv2.mean(prob[ymin : ymax + 1, xmin : xmax + 1], mask)[0])


def _unclip(quad: np.ndarray, ratio: float) -> np.ndarray | None:
    poly = Polygon(quad)
    if poly.length == 0:
        return None
    distance = poly.area * ratio / poly.length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(quad, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(distance)
    if len(grown) != 1:  # an expansion that splits or vanishes is not a text box
        return None
    return np.asarray(grown[0], dtype=np.float32)


@dataclass(frozen=True)
class Candidate:
    """A kernel region found at one binarisation threshold, before ``box_thresh`` and the unclip are applied."""

    quad: np.ndarray  # 4 x 2, in probability-map pixels
    score: float  # mean probability inside (the quad, or the contour with score_mode "slow")


def db_candidates(prob: np.ndarray, cfg: DBPostProcess = DBPostProcess()) -> list[Candidate]:
    """The kernel regions of ``prob`` at ``cfg.thresh`` (``max_candidates``, ``min_size``, ``score_mode`` apply)."""
    if cfg.score_mode not in SCORE_MODES:
        raise ValueError(f"score_mode must be one of {', '.join(SCORE_MODES)}, got {cfg.score_mode!r}")
    bitmap = (prob > cfg.thresh).astype(np.uint8)
    if cfg.use_dilation:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for contour in contours[: cfg.max_candidates]:
        quad, short_side = _min_area_quad(contour)
        if short_side < cfg.min_size:
            continue
        shape = contour.reshape(-1, 2).astype(np.float32) if cfg.score_mode == "slow" else quad
        found.append(Candidate(quad, _mean_score(prob, shape)))
    return found


def grow_candidate(
    candidate: Candidate, map_size: tuple[int, int], dest_size: tuple[int, int], cfg: DBPostProcess
) -> np.ndarray | None:
    """The candidate's text box in destination pixels, grown by ``cfg.unclip_ratio``; None if it is dropped."""
    grown = _unclip(candidate.quad, cfg.unclip_ratio)
    if grown is None:
        return None
    quad, short_side = _min_area_quad(grown)
    if short_side < cfg.min_size + 2:
        return None
    (h, w), (dest_h, dest_w) = map_size, dest_size
    quad[:, 0] = np.clip(np.round(quad[:, 0] / w * dest_w), 0, dest_w)
    quad[:, 1] = np.clip(np.round(quad[:, 1] / h * dest_h), 0, dest_h)
    return quad


def db_boxes(
    prob: np.ndarray, dest_size: tuple[int, int], cfg: DBPostProcess = DBPostProcess()
) -> tuple[np.ndarray, np.ndarray]:
    """Quads (K x 4 x 2 float32, in destination pixels) and scores (K) from one H x W probability map.

    ``dest_size`` is the (height, width) of the image the boxes are reported in (usually the original image).
    """
    quads, scores = [], []
    for candidate in db_candidates(prob, cfg):
        if candidate.score < cfg.box_thresh:
            continue
        quad = grow_candidate(candidate, prob.shape, dest_size, cfg)
        if quad is not None:
            quads.append(quad)
            scores.append(candidate.score)
    if not quads:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
    return np.stack(quads), np.asarray(scores, dtype=np.float32)
