"""Recognition labels: PaddleOCR ``path<TAB>text`` files and LMDB databases (PaddleOCR / MMOCR / DTRB layout).

LMDB layout: ``num-samples`` (decimal count), ``image-%09d`` (encoded image bytes) and ``label-%09d`` (UTF-8
text), numbered from 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ocrtrain.data.common import LabelError, SkipLog


@dataclass
class RecSample:
    image_path: Path
    text: str
    source: str  # "label_file:line"


def parse_rec_line(
    line: str, root: Path, label_file: str | Path, line_no: int, check_image: bool = True
) -> RecSample:
    """``relative/path.png<TAB>text``: exactly one tab, non-empty text (which may contain spaces)."""
    text = line.rstrip("\r\n").lstrip("\ufeff")
    tabs = text.count("\t")
    if tabs != 1:
        reason = (
            "missing tab between image path and text" if tabs == 0 else f"{tabs} tabs; expected exactly one"
        )
        raise LabelError(label_file, line_no, reason)
    rel, label = text.split("\t")
    if not rel.strip():
        raise LabelError(label_file, line_no, "empty image path")
    if label == "":
        raise LabelError(label_file, line_no, "empty text")
    image_path = Path(root) / rel
    if check_image and not image_path.is_file():
        raise LabelError(label_file, line_no, f"image not found: {image_path}")
    return RecSample(image_path, label, f"{label_file}:{line_no}")


def read_rec_labels(
    label_file: str | Path, root: str | Path, skip_bad: bool = False
) -> tuple[list[RecSample], SkipLog]:
    path = Path(root) / label_file
    if not path.is_file():
        raise FileNotFoundError(f"label file not found: {path}")
    samples, skipped = [], SkipLog()
    for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            samples.append(parse_rec_line(line, Path(root), path, line_no))
        except LabelError as e:
            if not skip_bad:
                raise
            skipped.add(e)
    return samples, skipped


def write_lmdb(samples: list[RecSample], out_dir: str | Path, map_size: int = 1 << 32) -> int:
    """Write samples (their image files' bytes, unchanged, and texts) as an LMDB database; returns the count."""
    import lmdb

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with lmdb.open(str(out_dir), map_size=map_size) as env, env.begin(write=True) as txn:
        for i, sample in enumerate(samples, start=1):
            txn.put(f"image-{i:09d}".encode(), sample.image_path.read_bytes())
            txn.put(f"label-{i:09d}".encode(), sample.text.encode("utf-8"))
        txn.put(b"num-samples", str(len(samples)).encode())
    return len(samples)


def lmdb_count(path: str | Path) -> int:
    """``num-samples`` of an LMDB database."""
    import lmdb

    with lmdb.open(str(path), readonly=True, lock=False) as env, env.begin() as txn:
        count = txn.get(b"num-samples")
    if count is None:
        raise LabelError(path, 0, "missing key 'num-samples'")
    return int(count)


def read_lmdb(path: str | Path) -> Iterator[tuple[bytes, str, str]]:
    """(image bytes, text, "path:index") for every sample of an LMDB database, in order."""
    import lmdb

    path = Path(path)
    if not (path / "data.mdb").is_file():
        raise FileNotFoundError(f"{path}: not an LMDB database (no data.mdb)")
    with lmdb.open(str(path), readonly=True, lock=False) as env, env.begin() as txn:
        count = txn.get(b"num-samples")
        if count is None:
            raise LabelError(path, 0, "missing key 'num-samples'")
        for i in range(1, int(count) + 1):
            image, label = txn.get(f"image-{i:09d}".encode()), txn.get(f"label-{i:09d}".encode())
            if image is None or label is None:
                raise LabelError(path, i, f"missing key image-{i:09d} or label-{i:09d}")
            yield image, label.decode("utf-8"), f"{path}:{i}"


def _image_suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    return ".jpg" if data.startswith(b"\xff\xd8") else ".img"


def lmdb_to_label_file(lmdb_dir: str | Path, out_dir: str | Path) -> Path:
    """Unpack an LMDB database into ``out_dir/images/`` plus ``out_dir/labels.txt`` (PaddleOCR format)."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (image, text, _) in enumerate(read_lmdb(lmdb_dir), start=1):
        rel = f"images/{i:09d}{_image_suffix(image)}"
        (out_dir / rel).write_bytes(image)
        lines.append(f"{rel}\t{text}")
    label_file = out_dir / "labels.txt"
    label_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return label_file
