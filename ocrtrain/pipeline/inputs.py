"""What ``predict`` accepts: a path, a directory, an http(s) URL, a BGR array, a dict ``{"img": ...}``, or a list."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ocrtrain.imageio import ImageError, decode_image, read_image, to_bgr

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
URL_TIMEOUT_S = 15.0
URL_MAX_BYTES = 32 * 1024 * 1024


def fetch_url(url: str, timeout: float = URL_TIMEOUT_S, max_bytes: int = URL_MAX_BYTES) -> np.ndarray:
    """Download an image with a timeout and a size cap; errors name the URL and the reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http/https checked by caller)
            length = response.headers.get("Content-Length")
            if length is not None and int(length) > max_bytes:
                raise ImageError(f"{url}: {int(length)} bytes is over the {max_bytes}-byte limit for images")
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as e:
        raise ImageError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ImageError(f"{url}: could not be fetched ({reason})") from None
    if len(data) > max_bytes:
        raise ImageError(f"{url}: response is over the {max_bytes}-byte limit for images")
    return decode_image(data, url)


def _images_in(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(
            f"{directory}: directory has no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return files


def iter_inputs(item: Any) -> Iterator[tuple[str | None, np.ndarray]]:
    """Yield (img_path or None, HxWx3 BGR uint8) for every image ``item`` stands for, lazily."""
    if isinstance(item, dict):
        if "img" not in item:
            raise ImageError(f"a dict input needs the key 'img', got keys {sorted(item)}")
        yield from iter_inputs(item["img"])
    elif isinstance(item, np.ndarray):
        yield None, to_bgr(item)
    elif isinstance(item, (list, tuple)):
        for sub in item:
            yield from iter_inputs(sub)
    elif isinstance(item, (str, Path)):
        text = str(item)
        if text.startswith(("http://", "https://")):
            yield text, fetch_url(text)
            return
        path = Path(text).expanduser()
        if path.is_dir():
            for file in _images_in(path):
                yield str(file), read_image(file)
        else:
            yield str(path), read_image(path)
    else:
        raise ImageError(
            f"unsupported input of type {type(item).__name__}: give a path, URL, array, dict or list"
        )
