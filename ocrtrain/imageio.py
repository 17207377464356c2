"""Reading images with errors that name the file, and normalising them to 3-channel BGR uint8."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def worker_message(message: str, error_type: type) -> str:
    """The message an error was raised with, also when paddle's DataLoader re-raised it from a worker process.

    paddle rebuilds a worker's exception as ``error_type(text)`` where ``text`` holds the worker's whole
    traceback; the raised message follows the traceback's last ``<module>.<type>: `` line.
    """
    if "Traceback (most recent call last)" not in message:
        return message
    markers = (f"{error_type.__module__}.{error_type.__qualname__}: ", f"{error_type.__qualname__}: ")
    lines = message.rstrip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        for marker in markers:
            if lines[i].startswith(marker):
                return "\n".join([lines[i].removeprefix(marker), *lines[i + 1 :]])
    return message


class ImageError(ValueError):
    """An image that cannot be used: missing, unreadable, not an image, or empty."""

    def __init__(self, message: str):
        super().__init__(worker_message(str(message), type(self)))


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


def probe_image(image: Path | bytes, source: str) -> str | None:
    """Why an image cannot be used, judged cheaply from its size and header (PIL reads no pixels), or None.

    A body that is damaged past the header is only found when the image is decoded.
    """
    if isinstance(image, Path):
        if not image.is_file():
            return f"{source}: no such file" if not image.exists() else f"{source}: not a file"
        if image.stat().st_size == 0:
            return f"{source}: empty file (0 bytes)"
        opened = image
    else:
        if not image:
            return f"{source}: empty (0 bytes)"
        opened = io.BytesIO(image)
    try:
        with Image.open(opened) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        # formats OpenCV reads and PIL does not are rare: only those pay for a full decode
        data = image.read_bytes() if isinstance(image, Path) else image
        if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is None:
            return f"{source}: not a readable image ({e})"
        return None
    if width == 0 or height == 0:
        return f"{source}: zero-size image ({width}x{height})"
    return None
