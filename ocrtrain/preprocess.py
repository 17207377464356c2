"""Image preprocessing shared by inference, evaluation and training (pure numpy/OpenCV, no paddle)."""

from __future__ import annotations

import math

import cv2
import numpy as np

# PP-OCRv4 det normalisation, applied to BGR images as PaddleOCR's NormalizeImage does (exported in inference.yml).
DET_MEAN = (0.485, 0.456, 0.406)
DET_STD = (0.229, 0.224, 0.225)


def normalize_det(
    img: np.ndarray,
    mean: tuple[float, ...] = DET_MEAN,
    std: tuple[float, ...] = DET_STD,
    scale: float = 1 / 255,
) -> np.ndarray:
    """uint8 HxWx3 BGR -> float32 3xHxW: scaled (to [0, 1]), then standardised per channel."""
    x = (img.astype(np.float32) * np.float32(scale) - np.asarray(mean, np.float32)) / np.asarray(
        std, np.float32
    )
    return np.ascontiguousarray(x.transpose(2, 0, 1))


# the detector's resize rules (``limit_type``), described at det_resize_shape
LIMIT_TYPES = ("max", "min", "resize_long")

# no side of a detector input exceeds this (PaddleOCR 3.x's max_side_limit): a thin image under limit_type min would
# otherwise be scaled to a size whose forward pass needs tens of GB (12 x 3000 px at 736/min: 736 x 184,000)
DET_MAX_SIDE = 4000


def _round32(size: float) -> int:
    return max(int(round(size / 32) * 32), 32)


def det_resize_shape(h: int, w: int, limit_side_len: int = 960, limit_type: str = "max") -> tuple[int, int]:
    """Target (h, w) of the detector input: scaled by the side limit, then rounded to multiples of 32.

    limit_type ``max`` shrinks so the longer side is at most ``limit_side_len``; ``min`` grows so the
    shorter side is at least ``limit_side_len``; ``resize_long`` scales the longer side to exactly it. A result
    with a side over ``DET_MAX_SIDE`` is scaled down to it, aspect kept.
    """
    if limit_type == "max":
        ratio = limit_side_len / max(h, w) if max(h, w) > limit_side_len else 1.0
    elif limit_type == "min":
        ratio = limit_side_len / min(h, w) if min(h, w) < limit_side_len else 1.0
    elif limit_type == "resize_long":
        ratio = limit_side_len / max(h, w)
    else:
        raise ValueError(f"limit_type must be one of {', '.join(LIMIT_TYPES)}, got {limit_type!r}")
    # truncate first, then round to a multiple of 32 (PaddleOCR's DetResizeForTest does the same)
    new_h, new_w = _round32(int(h * ratio)), _round32(int(w * ratio))
    if max(new_h, new_w) > DET_MAX_SIDE:
        shrink = DET_MAX_SIDE / max(new_h, new_w)
        new_h, new_w = _round32(new_h * shrink), _round32(new_w * shrink)
    return new_h, new_w


def resize_det(
    img: np.ndarray, limit_side_len: int = 960, limit_type: str = "max"
) -> tuple[np.ndarray, tuple[float, float]]:
    """Resize for detection; returns the image and (ratio_h, ratio_w) = new / original."""
    h, w = img.shape[:2]
    new_h, new_w = det_resize_shape(h, w, limit_side_len, limit_type)
    resized = cv2.resize(img, (new_w, new_h))
    return resized, (new_h / h, new_w / w)


def rec_target_width(h: int, w: int, height: int = 48, max_width: int = 320) -> int:
    """Width a crop takes when resized to ``height`` keeping its aspect ratio, capped at ``max_width``."""
    return max(1, min(max_width, int(math.ceil(height * w / max(h, 1)))))


def resize_norm_rec(
    img: np.ndarray, height: int = 48, width: int = 320, max_width: int | None = None
) -> np.ndarray:
    """uint8 HxWx3 BGR crop -> float32 3 x height x width in [-1, 1], aspect kept, zero-padded on the right.

    ``width`` is the padded (batch) width; the crop itself is at most ``max_width`` (default: ``width``) wide.
    """
    h, w = img.shape[:2]
    resized_w = rec_target_width(h, w, height, min(width, max_width or width))
    resized = cv2.resize(img, (resized_w, height)).astype(np.float32)
    resized = (resized / 255.0 - 0.5) / 0.5
    out = np.zeros((3, height, width), dtype=np.float32)
    out[:, :, :resized_w] = resized.transpose(2, 0, 1)
    return out
