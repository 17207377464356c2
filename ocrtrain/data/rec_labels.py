"""Writing recognition samples as an LMDB database and unpacking one into a PaddleOCR rec label file (the layout
is in readers/lmdb.py, which reads them)."""

from __future__ import annotations

from pathlib import Path

from ocrtrain.data.readers.base import RecSample
from ocrtrain.data.readers.lmdb import Lmdb


def write_lmdb(samples: list[RecSample], out_dir: str | Path, map_size: int = 1 << 32) -> int:
    """Write samples (their image files' bytes, unchanged, and texts) as an LMDB database; returns the count."""
    import lmdb

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with lmdb.open(str(out_dir), map_size=map_size) as env, env.begin(write=True) as txn:
        for i, sample in enumerate(samples, start=1):
            image = sample.image.read_bytes() if isinstance(sample.image, Path) else sample.image
            txn.put(f"image-{i:09d}".encode(), image)
            txn.put(f"label-{i:09d}".encode(), sample.text.encode("utf-8"))
        txn.put(b"num-samples", str(len(samples)).encode())
    return len(samples)


def _image_suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    return ".jpg" if data.startswith(b"\xff\xd8") else ".img"


def lmdb_to_label_file(lmdb_dir: str | Path, out_dir: str | Path) -> Path:
    """Unpack an LMDB database into ``out_dir/images/`` plus ``out_dir/labels.txt`` (PaddleOCR format)."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (_, _, sample) in enumerate(Lmdb(lmdb_dir, lmdb_dir), start=1):
        rel = f"images/{i:09d}{_image_suffix(sample.image)}"
        (out_dir / rel).write_bytes(sample.image)
        lines.append(f"{rel}\t{sample.text}")
    label_file = out_dir / "labels.txt"
    label_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return label_file
