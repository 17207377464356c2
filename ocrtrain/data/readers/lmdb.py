"""Recognition samples in an LMDB database (PaddleOCR / MMOCR / DTRB layout): ``num-samples`` (decimal count),
``image-%09d`` (encoded image bytes) and ``label-%09d`` (UTF-8 text), numbered from 1."""

from __future__ import annotations

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
        return path.is_dir()  # a directory without data.mdb is refused with a clear error when read

    def _open(self) -> lmdb.Environment:
        import lmdb

        if not (self.path / "data.mdb").is_file():
            raise FileNotFoundError(f"{self.path}: not an LMDB database (no data.mdb)")
        return lmdb.open(str(self.path), readonly=True, lock=False)

    def count(self) -> int:
        with self._open() as env, env.begin() as txn:
            count = txn.get(b"num-samples")
        if count is None:
            raise LabelError(self.path, 0, "missing key 'num-samples'")
        return int(count)

    def read(self, on_error: OnError | None = None) -> Iterator[tuple[str, int, RecSample]]:
        file, count = str(self.path), self.count()
        with self._open() as env, env.begin() as txn:
            for i in range(1, count + 1):
                image, label = txn.get(f"image-{i:09d}".encode()), txn.get(f"label-{i:09d}".encode())
                try:
                    if image is None or label is None:
                        raise LabelError(file, i, f"missing key image-{i:09d} or label-{i:09d}")
                    try:
                        text = label.decode("utf-8")
                    except UnicodeDecodeError:
                        raise LabelError(file, i, "label is not UTF-8 text") from None
                    yield file, i, RecSample(image, text, file, i)
                except LabelError as e:
                    if on_error is None:
                        raise
                    on_error(e)

    def fingerprint(self) -> dict[str, int | str]:
        sha256, _ = file_digest(self.path / "data.mdb")
        return {"lines": self.count(), "sha256": sha256}
