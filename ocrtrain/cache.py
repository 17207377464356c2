"""Where ocrtrain keeps what it builds or fetches for a user: ``~/.cache/ocrtrain/<part>`` (``OCRTRAIN_CACHE`` moves
the root)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(part: str) -> Path:
    """The cache directory of one kind of entry (``zoo``: programs built from shipped weights; ``registry``:
    downloaded registered models); not created here."""
    return Path(os.environ.get("OCRTRAIN_CACHE", Path.home() / ".cache" / "ocrtrain")) / part
