"""Geometry of text boxes: point ordering, reading order and perspective crops (pure numpy/OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np


def order_quad(points: np.ndarray) -> np.ndarray:
    """Order 4 points clockwise from the top-left: tl, tr, br, bl (float32 4x2)."""
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def sort_reading_order(quads: list[np.ndarray], line_tol: float = 10.0) -> list[int]:
    """Indices of quads in reading order: top to bottom, and left to right within a line.

    Two boxes are on the same line when their top-left y differ by less than ``line_tol`` pixels.
    """
    idx = sorted(range(len(quads)), key=lambda i: (quads[i][0][1], quads[i][0][0]))
    # a stable bubble pass fixes boxes of one line that the y-sort put out of x order
    for _ in range(len(idx)):
        changed = False
        for j in range(len(idx) - 1):
            a, b = quads[idx[j]][0], quads[idx[j + 1]][0]
            if abs(b[1] - a[1]) < line_tol and b[0] < a[0]:
                idx[j], idx[j + 1] = idx[j + 1], idx[j]
                changed = True
        if not changed:
            break
    return idx


def box_sides(poly: np.ndarray) -> tuple[float, float]:
    """(short, long) side of the smallest rotated rectangle around a box: a word's height and length."""
    width, height = cv2.minAreaRect(np.asarray(poly, dtype=np.float32).reshape(-1, 2))[1]
    return (float(width), float(height)) if width <= height else (float(height), float(width))


TALL_RATIO = 1.5  # a box at least this many times taller than wide holds vertical text


def turn_upright(crop: np.ndarray, rotate_ratio: float = TALL_RATIO) -> tuple[np.ndarray, bool]:
    """The crop turned 90° counter-clockwise when it is at least ``rotate_ratio`` times taller than wide (vertical
    text, read left to right once turned; PaddleOCR turns it the same way), and whether it was turned."""
    if crop.shape[0] / max(crop.shape[1], 1) >= rotate_ratio:
        return np.rot90(crop).copy(), True
    return crop, False


def crop_quad(img: np.ndarray, quad: np.ndarray, rotate_ratio: float | None = TALL_RATIO) -> np.ndarray:
    """Perspective-rectify the region of an ordered quad (tl, tr, br, bl).

    A crop at least ``rotate_ratio`` times taller than wide is turned upright (``turn_upright``); None: never.
    """
    q = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    width = int(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3])))
    height = int(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(q, target)
    crop = cv2.warpPerspective(
        img, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    return crop if rotate_ratio is None else turn_upright(crop, rotate_ratio)[0]


def crop_min_area_rect(
    img: np.ndarray, quad: np.ndarray, rotate_ratio: float | None = TALL_RATIO
) -> np.ndarray:
    """Rectify the minimum-area rectangle around a detected quad's integer corners, as PaddleOCR 3.x cuts boxes."""
    corners = np.round(np.asarray(quad, dtype=np.float32).reshape(-1, 2)).astype(np.int32)
    return crop_quad(img, order_quad(cv2.boxPoints(cv2.minAreaRect(corners))), rotate_ratio)


# how the pipeline cuts a detected box out of the image (``crop_mode``)
CROP_MODES = {
    "min_area_rect": crop_min_area_rect,  # PaddleOCR 3.x
    "quad": crop_quad,  # the quad itself, as PaddleOCR 2.x and RapidOCR do
}


def crop_text_region(
    img: np.ndarray, poly: np.ndarray, rotate_ratio: float | None = TALL_RATIO
) -> np.ndarray:
    """A labelled region cut for recognition (training, eval, ``convert det-to-rec``): a quad rectified as it is (the
    pipeline's ``crop_mode=quad``; the tightest crop of a quad that is not a rectangle, and the one the shipped
    recognisers read best), any other polygon by its minimum-area rectangle. A detector's boxes are rectangles,
    which both of the pipeline's modes cut alike."""
    poly = np.asarray(poly, dtype=np.float32).reshape(-1, 2)
    quad = poly if len(poly) == 4 else cv2.boxPoints(cv2.minAreaRect(poly))
    return crop_quad(img, order_quad(quad), rotate_ratio)
