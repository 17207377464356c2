"""Label readers (``label_reader`` components, one format per module): each iterates ``(file, line_no, sample)``
over a label source. Adding a format is adding a module here with a registered LabelReader subclass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocrtrain import components
from ocrtrain.data.common import SkipLog
from ocrtrain.data.readers.base import LabelReader, Sample, TextLabelReader


def reader_for(path: str | Path, root: str | Path, kind: str = "auto") -> LabelReader:
    """The reader of the one registered format ``path`` is in (``kind`` det/rec narrows the choice)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"label file not found: {path}")
    readers = [components.get("label_reader", name) for name in components.names("label_reader")]
    found = [r for r in readers if kind in ("auto", r.kind) and r.matches(path)]
    if not found and kind != "auto":  # e.g. rec lines read as det: the det text reader says what is wrong
        found = [r for r in readers if r.kind == kind and issubclass(r, TextLabelReader) == path.is_file()]
    if len(found) != 1:
        names = ", ".join(r.__name__ for r in found) or "none"
        raise ValueError(f"{path}: cannot tell its label format (matching readers: {names})")
    return found[0](path, root)


def label_kind(path: str | Path) -> str:
    """``det`` or ``rec``: the kind of samples the label source at ``path`` holds."""
    return reader_for(path, Path(path).parent).kind


def read_labels(
    label_file: str | Path, root: str | Path, skip_bad: bool = False, kind: str = "auto"
) -> tuple[list[Sample], SkipLog]:
    """The samples of a label source (``label_file`` relative to ``root``, as are the image paths inside it);
    bad lines raise LabelError, or with ``skip_bad`` are skipped and recorded."""
    skipped = SkipLog()
    reader = reader_for(Path(root) / label_file, root, kind)
    samples = [s for _, _, s in reader.read(skipped.add if skip_bad else None)]
    return samples, skipped


def fingerprint_label_files(data_cfg: Any) -> dict[str, dict]:
    """Path, line (sample) count and sha256 of every label source of the dataset config's train and val splits
    that exists (evaluating a val file needs no train file)."""
    files = {}
    for name in (
        name for split in ("train", "val") if data_cfg.get(split) for name in data_cfg[split].label_files
    ):
        path = Path(data_cfg.root) / name
        if path.exists():
            files[str(path)] = reader_for(path, data_cfg.root).fingerprint()
    return files
