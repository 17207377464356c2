"""Recognition labels and LMDB: errors with file:line, and a lossless round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrtrain.data.common import LabelError
from ocrtrain.data.dictionary import CharDict
from ocrtrain.data.readers import read_labels
from ocrtrain.data.readers.base import RecSample
from ocrtrain.data.readers.lmdb import Lmdb
from ocrtrain.data.rec_dataset import RecDataset
from ocrtrain.data.rec_labels import lmdb_to_label_file, write_lmdb


@pytest.fixture(scope="module")
def rec_demo(demo_dir) -> Path:
    return demo_dir.parent / "icdar2015_rec_demo"


def test_demo_labels(rec_demo):
    samples, skipped = read_labels("train.txt", rec_demo)
    assert len(samples) == 114 and not skipped
    assert samples[0].text == "Genaxis Theatre" and samples[0].source.endswith("train.txt:1")


def test_bad_lines_name_file_and_line(tmp_path, rec_demo):
    image = rec_demo / "images" / "img_1_0.png"
    lines = [f"{image}\tok", f"{image} no tab", f"{image}\ta\tb", f"{image}\t", f"{tmp_path}/missing.png\tx"]
    (tmp_path / "labels.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"labels\.txt:2: missing tab"):
        read_labels("labels.txt", tmp_path)
    dataset = RecDataset(tmp_path, ["labels.txt"], CharDict.pretrained(), skip_bad=True)
    samples, skipped = dataset.samples, dataset.skipped
    assert [s.text for s in samples] == ["ok"]
    assert [(e.line_no, e.reason.split(":")[0]) for e in skipped.problems] == [
        (2, "missing tab between image path and text"),
        (3, "2 tabs; expected exactly one"),
        (4, "empty text"),
        (5, "image not found"),
    ]


def test_a_windows_path_in_a_label_is_named_as_such(rec_demo, tmp_path):
    (tmp_path / "labels.txt").write_text(f"{rec_demo.name}\\images\\img_1_0.png\tGenaxis\n", encoding="utf-8")
    with pytest.raises(
        LabelError, match=r"labels\.txt:1: image not found: .*\(a Windows path\? label files separate"
    ):
        RecDataset(tmp_path, ["labels.txt"], CharDict.pretrained())


def test_rec_to_lmdb_to_rec_is_identical(tmp_path, rec_demo):
    samples, _ = read_labels("val.txt", rec_demo)
    assert write_lmdb(samples, tmp_path / "lmdb") == len(samples)
    read_back = [sample for _, _, sample in Lmdb(tmp_path / "lmdb", tmp_path)]
    assert [(s.image, s.text) for s in read_back] == [(s.image.read_bytes(), s.text) for s in samples]
    assert read_back[0].source == f"{tmp_path / 'lmdb'}:1"
    label_file = lmdb_to_label_file(tmp_path / "lmdb", tmp_path / "unpacked")
    again, _ = read_labels(label_file.name, label_file.parent)
    assert [(s.image.read_bytes(), s.text) for s in again] == [
        (s.image.read_bytes(), s.text) for s in samples
    ]
    assert again[0].image.suffix == ".png"


def test_not_an_lmdb(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an LMDB database"):
        list(Lmdb(tmp_path, tmp_path))


def test_a_folder_of_lmdbs_reads_every_database_under_it(tmp_path, rec_demo):
    """PaddleOCR's data_dir for LMDB training is a folder of databases (MJ/, ST/, ...): so is label_files here."""
    samples, _ = read_labels("val.txt", rec_demo)
    write_lmdb(samples[:2], tmp_path / "training" / "MJ")
    write_lmdb(samples[2:5], tmp_path / "training" / "ST" / "part1")
    dataset = RecDataset(tmp_path, ["training"], CharDict.pretrained(), mode="eval")
    assert [dataset[i]["text"] for i in range(len(dataset))] == [s.text for s in samples[:5]]
    reader = Lmdb(tmp_path / "training", tmp_path)
    assert [e.source for _, _, e in reader][::2] == [
        f"{tmp_path / 'training' / 'MJ'}:1",
        f"{tmp_path / 'training' / 'ST' / 'part1'}:1",
        f"{tmp_path / 'training' / 'ST' / 'part1'}:3",
    ]
    assert reader.fingerprint()["lines"] == 5


def test_an_empty_text_in_an_lmdb_is_named_as_in_a_label_file(tmp_path, rec_demo):
    samples, _ = read_labels("val.txt", rec_demo)
    write_lmdb([samples[0], RecSample(samples[1].image, "", "x", 2)], tmp_path / "db")
    with pytest.raises(LabelError, match=r"db:2: empty text"):
        RecDataset(tmp_path, ["db"], CharDict.pretrained())
    skipped = RecDataset(tmp_path, ["db"], CharDict.pretrained(), skip_bad=True)
    assert len(skipped) == 1


def test_lmdb_trains_and_a_bad_image_in_it_names_database_and_index(tmp_path, rec_demo):
    samples, _ = read_labels("val.txt", rec_demo)
    write_lmdb(samples[:3], tmp_path / "db")
    dataset = RecDataset(tmp_path, ["db"], CharDict.pretrained(), mode="train")
    assert len(dataset) == 3 and dataset[(2, 5)]["text"].startswith(samples[2].text)
    junk = [RecSample(b"not an image", "ab", "x", 1)]
    write_lmdb(junk, tmp_path / "junk")
    with pytest.raises(LabelError, match=r"junk:1: unreadable image: encoded image: not a readable image"):
        RecDataset(tmp_path, ["junk"], CharDict.pretrained())
