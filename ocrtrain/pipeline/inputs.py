"""What ``predict`` accepts: a path, a directory, an http(s) URL, a BGR array, a dict ``{"img": ...}``, or a list."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ocrtrain.imageio import IMAGE_SUFFIXES, ImageError, decode_image, read_image, to_bgr

URL_TIMEOUT_S = 15.0  # per connect / read
URL_DEADLINE_S = 15.0  # the whole download
URL_MAX_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def fetch_url(
    url: str, timeout: float = URL_TIMEOUT_S, max_bytes: int = URL_MAX_BYTES, deadline: float = URL_DEADLINE_S
) -> np.ndarray:
    """Download an image within ``deadline`` seconds in all (a stalled read ends after ``timeout``), at most
    ``max_bytes``; errors name the URL and the reason."""
    started = time.monotonic()
    too_slow = ImageError(f"{url}: download took longer than {deadline:g} s (the limit for input URLs)")

    def remaining() -> float:
        left = deadline - (time.monotonic() - started)
        if left <= 0:
            raise too_slow
        return left

    try:
        with urllib.request.urlopen(url, timeout=min(timeout, remaining())) as response:  # noqa: S310 (http/https checked by caller)
            length = response.headers.get("Content-Length")
            if length is not None and int(length) > max_bytes:
                raise ImageError(f"{url}: {int(length)} bytes is over the {max_bytes}-byte limit for images")
            chunks, size = [], 0
            while size <= max_bytes:
                remaining()  # checked between reads; a stalled read ends after ``timeout``
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
    except urllib.error.HTTPError as e:
        raise ImageError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        if time.monotonic() - started >= deadline:
            raise too_slow from None
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


def iter_inputs(item: Any, url_deadline: float = URL_DEADLINE_S) -> Iterator[tuple[str | None, np.ndarray]]:
    """Yield (img_path or None, HxWx3 BGR uint8) for every image ``item`` stands for, lazily; a URL must download
    within ``url_deadline`` seconds."""
    if isinstance(item, dict):
        if "img" not in item:
            raise ImageError(f"a dict input needs the key 'img', got keys {sorted(item)}")
        yield from iter_inputs(item["img"], url_deadline)
    elif isinstance(item, np.ndarray):
        yield None, to_bgr(item)
    elif isinstance(item, (list, tuple)):
        for sub in item:
            yield from iter_inputs(sub, url_deadline)
    elif isinstance(item, (str, Path)):
        text = str(item)
        if text.startswith(("http://", "https://")):
            yield text, fetch_url(text, deadline=url_deadline)
            return
        # another scheme read as a path would become a missing file: ftp://host/a.png -> "ftp:/host/a.png"
        if scheme := _URL_SCHEME.match(text):
            raise ImageError(
                f"{text}: {scheme.group(1)}:// URLs are not read; give a file, a directory or an http(s) URL"
            )
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
