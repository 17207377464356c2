"""Recognition samples in an LMDB database (PaddleOCR / MMOCR / DTRB layout): ``num-samples`` (decimal count),
``image-%09d`` (encoded image bytes) and ``label-%09d`` (UTF-8 text), numbered from 1."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ocrtrain.components import register
from ocrtrain.data.common import LabelError
from ocrtrain.data.readers.base import LabelReader, OnError, RecSample, file_digest

if TYPE_CHECKING:
    import lmdb


@register("label_reader", "lmdb")
class Lmdb(LabelReader):
    kind = "rec"

    @classmethod
    def matches(cls, path: Path) -> bool:
        return path.is_dir()  # a directory without any data.mdb is refused with a clear error when read

    @functools.cached_property
    def databases(self) -> list[Path]:
        """The database in this directory or, as PaddleOCR reads a training folder (``MJ/``, ``ST/``, ...), every
        database under it, in path order."""
        if (self.path / "data.mdb").is_file():
            return [self.path]
        found = sorted(p.parent for p in self.path.rglob("data.mdb"))
        if not found:
            raise FileNotFoundError(
                f"{self.path}: not an LMDB database (no data.mdb in it or in its sub-folders)"
            )
        return found

    @staticmethod
    def _open(database: Path) -> lmdb.Environment:
        import lmdb

        return lmdb.open(str(database), readonly=True, lock=False)

    @classmethod
    def _count(cls, database: Path) -> int:
        with cls._open(database) as env, env.begin() as txn:
            count = txn.get(b"num-samples")
        if count is None:
            raise LabelError(database, 0, "missing key 'num-samples'")
        return int(count)

    def count(self) -> int:
        return sum(self._count(database) for database in self.databases)

    def read(self, on_error: OnError | None = None) -> Iterator[tuple[str, int, RecSample]]:
        for database in self.databases:
            yield from self._read(database, on_error)

    def _read(self, database: Path, on_error: OnError | None) -> Iterator[tuple[str, int, RecSample]]:
        file, count = str(database), self._count(database)
        with self._open(database) as env, env.begin() as txn:
            for i in range(1, count + 1):
                image, label = txn.get(f"image-{i:09d}".encode()), txn.get(f"label-{i:09d}".encode())
                try:
                    if image is None or label is None:
                        raise LabelError(file, i, f"missing key image-{i:09d} or label-{i:09d}")
                    try:
                        text = label.decode("utf-8")
                    except UnicodeDecodeError:
                        raise LabelError(file, i, "label is not UTF-8 text") from None
                    if not text:
                        raise LabelError(file, i, "empty text")  # as in a label file
                    yield file, i, RecSample(image, text, file, i)
                except LabelError as e:
                    if on_error is None:
                        raise
                    on_error(e)

    def fingerprint(self) -> dict[str, int | str]:
        digests = [file_digest(database / "data.mdb")[0] for database in self.databases]
        sha256 = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
        return {"lines": self.count(), "sha256": sha256}
