"""Label files as users hand them over: not UTF-8 (issue 10 item 9), only the split being checked or evaluated
present (issue 10 item 12), and a named one missing or empty."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ocrtrain.data.common import LabelError
from ocrtrain.data.dictionary import CharDict
from ocrtrain.data.readers import fingerprint_label_files, read_labels
from ocrtrain.data.rec_dataset import RecDataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def rec_root(tmp_path: Path, demo_dir: Path) -> Path:
    """Three real word crops under tmp_path/images."""
    rec_demo = demo_dir.parent / "icdar2015_rec_demo"
    shutil.copytree(rec_demo / "images", tmp_path / "images", ignore=lambda d, names: names[3:])
    return tmp_path


def _gbk_labels(root: Path) -> str:
    images = sorted(p.name for p in (root / "images").iterdir())
    lines = [f"images/{images[0]}\tok", f"images/{images[1]}\t中文标签", f"images/{images[2]}\tfine"]
    (root / "gbk.txt").write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    return "gbk.txt"


def test_non_utf8_label_file_names_file_line_and_the_encoding(rec_root):
    label = _gbk_labels(rec_root)
    with pytest.raises(
        LabelError, match=r"gbk\.txt:2: not UTF-8 \(byte 0xd6 at column \d+\); label files must be UTF-8"
    ):
        read_labels(label, rec_root)
    with pytest.raises(LabelError, match=r"gbk\.txt:2: not UTF-8"):
        RecDataset(rec_root, [label], CharDict.pretrained())
    dataset = RecDataset(rec_root, [label], CharDict.pretrained(), skip_bad=True)
    assert [s.text for s in dataset.samples] == ["ok", "fine"] and dataset.skipped.problems[0].line_no == 2


def _data_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ocrtrain.data", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def test_data_check_names_the_line_of_a_non_utf8_file(rec_root, tmp_path):
    label = _gbk_labels(rec_root)
    run = _data_cli(
        "data=mine", f"data.root={rec_root}", f"data.train.label_files=[{label}]", f"output={tmp_path / 'r'}"
    )
    assert run.returncode == 1, run.stderr
    assert f"{rec_root / label}:2: not UTF-8" in run.stdout


def test_checking_a_val_file_needs_no_train_file(rec_root, tmp_path):
    images = sorted(p.name for p in (rec_root / "images").iterdir())
    (rec_root / "v.txt").write_text("".join(f"images/{name}\tword\n" for name in images), encoding="utf-8")
    for dataset in (["data=mine"], []):  # without data= the template conf/data/mine.yaml is the start
        run = _data_cli(
            *dataset, f"data.root={rec_root}", "data.val.label_files=[v.txt]", f"output={tmp_path / 'r'}"
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"train: not checked, no label file ({rec_root / 'train.txt'})" in run.stdout
        assert run.stdout.strip().endswith("ok")
    run = _data_cli(f"output={tmp_path / 'r'}")
    assert run.returncode != 0 and "pass data=<name>" in run.stdout + run.stderr
    # the fingerprint eval and export log touches only the files that exist
    cfg = OmegaConf.create(
        {"root": str(rec_root), "train": {"label_files": ["train.txt"]}, "val": {"label_files": ["v.txt"]}}
    )
    fingerprint = fingerprint_label_files(cfg)
    assert (
        list(fingerprint) == [str(rec_root / "v.txt")] and fingerprint[str(rec_root / "v.txt")]["lines"] == 3
    )


def test_a_named_label_file_that_is_missing_or_empty_fails_the_check(rec_root, tmp_path):
    images = sorted(p.name for p in (rec_root / "images").iterdir())
    (rec_root / "v.txt").write_text("".join(f"images/{name}\tword\n" for name in images), encoding="utf-8")
    (rec_root / "empty.txt").write_text("\n", encoding="utf-8")
    val = ["data.val.label_files=[v.txt]", f"output={tmp_path / 'r'}"]
    for dataset in (["data=mine"], ["data=icdar2015_rec_demo"]):
        run = _data_cli(*dataset, f"data.root={rec_root}", "data.train.label_files=[nope.txt]", *val)
        assert run.returncode == 1, run.stdout + run.stderr
        assert f"label file not found: {rec_root / 'nope.txt'}" in run.stdout and "NOT OK" in run.stdout
    # a dataset config of the user's names its train file even when the command line does not
    run = _data_cli("data=icdar2015_rec_demo", f"data.root={rec_root}", *val)
    assert run.returncode == 1 and f"label file not found: {rec_root / 'train.txt'}" in run.stdout
    run = _data_cli("data=mine", f"data.root={rec_root}", "data.train.label_files=[empty.txt]", *val)
    assert run.returncode == 1 and f"{rec_root / 'empty.txt'}: empty, no label lines" in run.stdout
