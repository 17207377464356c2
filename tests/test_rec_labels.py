"""Recognition labels and LMDB: errors with file:line, and a lossless round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrtrain.data.common import LabelError
from ocrtrain.data.rec_labels import lmdb_to_label_file, read_lmdb, read_rec_labels, write_lmdb


@pytest.fixture(scope="module")
def rec_demo(demo_dir) -> Path:
    return demo_dir.parent / "icdar2015_rec_demo"


def test_demo_labels(rec_demo):
    samples, skipped = read_rec_labels("train.txt", rec_demo)
    assert len(samples) == 114 and not skipped
    assert samples[0].text == "Genaxis Theatre" and samples[0].source.endswith("train.txt:1")


def test_bad_lines_name_file_and_line(tmp_path, rec_demo):
    image = rec_demo / "images" / "img_1_0.png"
    lines = [f"{image}\tok", f"{image} no tab", f"{image}\ta\tb", f"{image}\t", f"{tmp_path}/missing.png\tx"]
    (tmp_path / "labels.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"labels\.txt:2: missing tab"):
        read_rec_labels("labels.txt", tmp_path)
    samples, skipped = read_rec_labels("labels.txt", tmp_path, skip_bad=True)
    assert [s.text for s in samples] == ["ok"]
    assert [(e.line_no, e.reason.split(":")[0]) for e in skipped.problems] == [
        (2, "missing tab between image path and text"),
        (3, "2 tabs; expected exactly one"),
        (4, "empty text"),
        (5, "image not found"),
    ]


def test_rec_to_lmdb_to_rec_is_identical(tmp_path, rec_demo):
    samples, _ = read_rec_labels("val.txt", rec_demo)
    assert write_lmdb(samples, tmp_path / "lmdb") == len(samples)
    read_back = list(read_lmdb(tmp_path / "lmdb"))
    assert [(img, text) for img, text, _ in read_back] == [
        (s.image_path.read_bytes(), s.text) for s in samples
    ]
    label_file = lmdb_to_label_file(tmp_path / "lmdb", tmp_path / "unpacked")
    again, _ = read_rec_labels(label_file.name, label_file.parent)
    assert [(s.image_path.read_bytes(), s.text) for s in again] == [
        (s.image_path.read_bytes(), s.text) for s in samples
    ]
    assert again[0].image_path.suffix == ".png"


def test_not_an_lmdb(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an LMDB database"):
        list(read_lmdb(tmp_path))
