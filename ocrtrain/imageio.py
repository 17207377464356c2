"""Reading images with errors that name the file, and normalising them to 3-channel BGR uint8."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# the largest image ocrtrain decodes, in pixels: PIL's default limit (~89.5 MP, e.g. 9459 x 9459; 268 MB as BGR
# uint8). A few KB of PNG can declare far more; every image is measured from its header before it is decoded.
MAX_IMAGE_PIXELS = 89_478_485


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

    def __init__(self, message: str) -> None:
        super().__init__(worker_message(str(message), type(self)))


class ImageTooLargeError(ImageError):
    """An image with more pixels than allowed (:data:`MAX_IMAGE_PIXELS`, or a lower limit of the caller's)."""


def to_bgr(img: np.ndarray, source: str = "array") -> np.ndarray:
    """Convert grayscale (HxW or HxWx1), BGRA, 16-bit, boolean and floating-point images to HxWx3 uint8 BGR;
    reject empty ones. Floating-point images whose values all lie in [0, 1] (a float TIFF, an array from
    scikit-image or ``img / 255``) are scaled by 255; others are read as 0..255."""
    if not isinstance(img, np.ndarray):
        raise ImageError(f"{source}: expected a numpy array, got {type(img).__name__}")
    if img.size == 0 or img.ndim < 2 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError(f"{source}: zero-size image (shape {img.shape})")
    if img.dtype == np.uint16:
        img = (img / 257).astype(np.uint8)
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif np.issubdtype(img.dtype, np.floating):
        img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if img.min() >= 0.0 and img.max() <= 1.0 else 1.0
        img = np.clip(np.rint(img * scale), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    raise ImageError(f"{source}: unsupported image shape {img.shape}; expected HxW, HxWx1, HxWx3 or HxWx4")


def _too_large(source: str, pixels: str, max_pixels: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"{source}: image too large ({pixels} pixels; the limit is {max_pixels:,})")


def _check_pixels(width: int, height: int, source: str, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise _too_large(source, f"{width}x{height} = {width * height:,}", max_pixels)


def header_size(
    image: Path | bytes, source: str, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[int, int] | None:
    """(width, height) read from the image's header by PIL, which decodes no pixels; None for a header PIL cannot
    read (OpenCV may still decode the image). An image past ``max_pixels`` (at most :data:`MAX_IMAGE_PIXELS`) is an
    ImageTooLargeError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below speaks for it
            with Image.open(image if isinstance(image, Path) else io.BytesIO(image)) as img:
                width, height = img.size
    except Image.DecompressionBombError as e:  # past twice its limit PIL refuses before giving the size
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise _too_large(
            source,
            f"{int(pixels[1]):,}" if pixels else f"over {2 * MAX_IMAGE_PIXELS:,}",
            max_pixels,
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    _check_pixels(width, height, source, max_pixels)
    return width, height


def decode_image(data: bytes, source: str, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (png, jpg, bmp, tiff, webp...) to BGR uint8; an image past ``max_pixels`` (at
    most :data:`MAX_IMAGE_PIXELS`) is refused from its header, before its pixels are decoded."""
    if not data:
        raise ImageError(f"{source}: empty file (0 bytes)")
    header_size(data, source, max_pixels)
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(f"{source}: not a readable image (OpenCV could not decode {len(data)} bytes)")
    # a format only OpenCV reads has had no header check
    _check_pixels(img.shape[1], img.shape[0], source, max_pixels)
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
    elif not image:
        return f"{source}: empty (0 bytes)"
    try:
        size = header_size(image, source)
        if size is None:  # formats OpenCV reads and PIL does not are rare: only those pay for a full decode
            decode_image(image.read_bytes() if isinstance(image, Path) else image, source)
    except ImageError as e:
        return str(e)
    if size is not None and 0 in size:
        return f"{source}: zero-size image ({size[0]}x{size[1]})"
    return None
