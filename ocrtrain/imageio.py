"""Reading images with errors that name the file, and normalising them to 3-channel BGR uint8."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageError(ValueError):
    """An image that cannot be used: missing, unreadable, not an image, or empty."""


def to_bgr(img: np.ndarray, source: str = "array") -> np.ndarray:
    """Convert grayscale (HxW or HxWx1), BGRA and 16-bit images to HxWx3 uint8 BGR; reject empty ones."""
    if not isinstance(img, np.ndarray):
        raise ImageError(f"{source}: expected a numpy array, got {type(img).__name__}")
    if img.size == 0 or img.ndim < 2 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError(f"{source}: zero-size image (shape {img.shape})")
    if img.dtype == np.uint16:
        img = (img / 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    raise ImageError(f"{source}: unsupported image shape {img.shape}; expected HxW, HxWx1, HxWx3 or HxWx4")


def decode_image(data: bytes, source: str) -> np.ndarray:
    """Decode encoded image bytes (png, jpg, bmp, tiff, webp...) to BGR uint8."""
    if not data:
        raise ImageError(f"{source}: empty file (0 bytes)")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(f"{source}: not a readable image (OpenCV could not decode {len(data)} bytes)")
    return to_bgr(img, source)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as HxWx3 BGR uint8, with an error naming the file when it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    return decode_image(path.read_bytes(), str(path))
