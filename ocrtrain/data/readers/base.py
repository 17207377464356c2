"""The label-reader interface: a reader iterates ``(file, line_no, sample)`` over one label source, where a
sample is a DetSample (an image and its boxes) or a RecSample (an image or word region and its text)."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ocrtrain.data.common import LabelError, decode_line

DONT_CARE = {"###", "*"}


@dataclass
class DetSample:
    image_path: Path
    polys: list[np.ndarray]  # each N x 2 float32
    texts: list[str]
    ignore: list[bool]
    file: str
    line_no: int

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line_no}"

    def text_boxes(self) -> Iterator[tuple[int, np.ndarray, str]]:
        """(index, polygon, text) of every box that is not don't-care."""
        for k, (poly, text, ignore) in enumerate(zip(self.polys, self.texts, self.ignore, strict=True)):
            if not ignore:
                yield k, poly, text


@dataclass(frozen=True)
class TextRegion:
    """A labelled box of a detection label file: cut out of its image when loaded (``crop.crop_text_region``)."""

    image_path: Path
    poly: np.ndarray
    box: int


@dataclass
class RecSample:
    image: Path | bytes | TextRegion  # an image file, encoded image bytes (LMDB) or a box of a det image
    text: str
    file: str
    line_no: int

    @property
    def source(self) -> str:
        box = f" box {self.image.box}" if isinstance(self.image, TextRegion) else ""
        return f"{self.file}:{self.line_no}{box}"


Sample = DetSample | RecSample
OnError = Callable[[LabelError], None]


class LabelReader(ABC):
    """One label source (a file or a database). Subclasses register as ``label_reader`` components."""

    kind: ClassVar[str]  # "det" or "rec": the sample type it yields

    def __init__(self, path: str | Path, root: str | Path) -> None:
        self.path, self.root = Path(path), Path(root)  # image paths in the labels are relative to root

    @classmethod
    @abstractmethod
    def matches(cls, path: Path) -> bool:
        """Whether ``path`` is in this reader's format."""

    @abstractmethod
    def read(self, on_error: OnError | None = None) -> Iterator[tuple[str, int, Sample]]:
        """``(file, line_no, sample)`` per usable line; a bad line raises LabelError, or is handed to
        ``on_error`` and skipped."""

    def __iter__(self) -> Iterator[tuple[str, int, Sample]]:
        return self.read()

    def fingerprint(self) -> dict[str, int | str]:
        """Line (sample) count and sha256 of the source's bytes: what a model was trained or selected on."""
        sha256, lines = file_digest(self.path)
        return {"lines": lines, "sha256": sha256}


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 and newline count of a file, read in chunks."""
    digest, lines = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines


def tab_payloads(path: Path, lines: int = 20) -> list[str]:
    """What follows the tab on the first ``lines`` lines that have one (for telling det from rec labels)."""
    payloads = []
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            _, tab, payload = line.strip().partition("\t")
            if tab:
                payloads.append(payload.strip())
            if len(payloads) >= lines:
                break
    return payloads


def looks_like_det(payload: str) -> bool:
    return payload.startswith("[{") or payload == "[]"


class TextLabelReader(LabelReader):
    """A UTF-8 text file with one sample per line; subclasses parse a line."""

    @abstractmethod
    def parse(self, line: str, line_no: int) -> Sample:
        """The sample of one line (without its line break); raises LabelError for a bad one."""

    def read(self, on_error: OnError | None = None) -> Iterator[tuple[str, int, Sample]]:
        if not self.path.is_file():
            raise FileNotFoundError(f"label file not found: {self.path}")
        file = str(self.path)
        with open(self.path, "rb") as f:
            for line_no, raw in enumerate(f, start=1):
                try:
                    line = decode_line(raw, file, line_no)
                    if line.strip():
                        yield file, line_no, self.parse(line, line_no)
                except LabelError as e:
                    if on_error is None:
                        raise
                    on_error(e)
