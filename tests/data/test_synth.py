"""python -m ocrtrain.data synth: crops a recogniser can read, of the dataset's own words, over text-free patches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ocrtrain.data.common import LabelError
from ocrtrain.data.dictionary import CharDict
from ocrtrain.data.readers import read_labels
from ocrtrain.data.rec_dataset import RecDataset
from ocrtrain.data.synth import (
    SynthOptions,
    background_patch,
    default_font_paths,
    load_fonts,
    synthesize,
    word_weights,
)

CLEAN = {"blur_prob": 0.0, "max_angle": 0.0, "min_height": 32, "max_height": 48, "jpeg_quality": (90, 95)}


def _demo_words(demo_dir: Path) -> set[str]:
    samples, _ = read_labels(demo_dir / "train.txt", demo_dir)
    return {text for s in samples for _, _, text in s.text_boxes()}


def test_crops_are_labelled_with_the_datasets_words_and_train_as_a_rec_split(tmp_path, demo_dir):
    labels = synthesize([demo_dir / "train.txt"], demo_dir, tmp_path / "synth", SynthOptions(count=30))
    lines = labels.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 30 and len(list((tmp_path / "synth" / "crops").glob("*.jpg"))) == 30
    words = _demo_words(demo_dir)
    for line in lines:
        rel, text = line.split("\t")
        assert text in words
        crop = cv2.imread(str(demo_dir / rel))  # paths relative to the data root the input labels use
        assert crop is not None and 12 <= crop.shape[0] <= 64
    # the file mixes into the same dataset as a rec label file
    dataset = RecDataset(demo_dir, [str(labels)], CharDict.pretrained("PP-OCRv4_mobile_rec"), mode="eval")
    assert len(dataset) == 30 and dataset[0]["image"].shape[0] == 3


def test_the_shipped_recogniser_reads_clean_crops_as_labelled(tmp_path, demo_dir, ocr_pipeline):
    """The label is what the crop shows: no word clipped, no glyph missing, ink that stands out."""
    labels = synthesize([demo_dir / "train.txt"], demo_dir, tmp_path, SynthOptions(count=40, **CLEAN))
    pairs = [line.split("\t") for line in labels.read_text(encoding="utf-8").splitlines()]
    read = ocr_pipeline.recognize([cv2.imread(str(demo_dir / rel)) for rel, _ in pairs])
    right = sum(text == label for (text, _), (_, label) in zip(read, pairs, strict=True))
    assert right >= 0.75 * len(pairs), [(t, lab) for (t, _), (_, lab) in zip(read, pairs, strict=True)]


def test_same_seed_same_crops_other_seed_other_crops(tmp_path, demo_dir):
    def run(name: str, seed: int) -> list[bytes]:
        synthesize([demo_dir / "train.txt"], demo_dir, tmp_path / name, SynthOptions(count=6, seed=seed))
        return [p.read_bytes() for p in sorted((tmp_path / name / "crops").glob("*.jpg"))]

    assert run("a", 0) == run("b", 0)
    assert run("a", 0) != run("c", 1)


def test_background_patches_never_hold_labelled_text():
    rng = np.random.default_rng(0)
    img = np.zeros((200, 400, 3), np.uint8)
    img[:, 200:] = (10, 200, 30)  # the right half is free of text; the left half is all labelled
    mask = np.zeros((200, 400), np.uint8)
    mask[:, :200] = 1
    for _ in range(20):
        patch = background_patch(img, mask, (40, 100), rng)
        assert patch is not None and patch.shape == (40, 100, 3)
        assert (patch == (10, 200, 30)).all()
    assert background_patch(img, np.ones_like(mask), (40, 100), rng) is None  # then a flat colour is used


@pytest.mark.parametrize(
    "bad", [{"count": 0}, {"min_height": 40, "max_height": 20}, {"min_height": 0}, {"jpeg_quality": (90, 40)}]
)
def test_impossible_options_are_refused_before_any_work(bad):
    with pytest.raises(ValueError, match="synth"):
        SynthOptions(**bad)


def test_rare_characters_come_up_more_often():
    words = ["SALE"] * 50 + ["$5", "SEA5"]
    balanced, as_labelled = word_weights(words, 0.5), word_weights(words, 0.0)
    assert as_labelled == pytest.approx(np.full(52, 1 / 52))
    assert balanced[50] > balanced[51] > balanced[0]  # the rarest: '$' once, '5' twice, 'L' 50 times


def test_words_no_font_draws_are_reported_and_left_out(tmp_path, capsys):
    (tmp_path / "labels.txt").write_text("a.png\tSALE\nb.png\t\u0e01\u0e02\n", encoding="utf-8")
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((20, 40, 3), 255, np.uint8))
    labels = synthesize([tmp_path / "labels.txt"], tmp_path, tmp_path / "out", SynthOptions(count=5))
    assert {line.split("\t")[1] for line in labels.read_text(encoding="utf-8").splitlines()} == {"SALE"}
    assert "1 distinct words have a character no font draws" in capsys.readouterr().out


def test_a_file_that_is_not_a_font_is_named(tmp_path):
    fake = tmp_path / "evil.ttf"
    fake.write_bytes(b"import os\nos.system('touch pwned')\n")
    with pytest.raises(ValueError, match="evil.ttf: not a readable font"):
        load_fonts([fake])
    assert not Path("pwned").exists()
    assert all(f.covers("Ab1$!#") for f in load_fonts(default_font_paths()))


def test_synth_command_writes_what_it_says(tmp_path, demo_dir):
    out = subprocess.run(
        [
            sys.executable, "-m", "ocrtrain.data", "synth", f"input={demo_dir / 'train.txt'}",
            f"output={tmp_path / 'synth'}", "synth.count=4", f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"4 crops -> {tmp_path / 'synth' / 'labels.txt'}" in out.stdout
    assert len((tmp_path / "synth" / "labels.txt").read_text(encoding="utf-8").splitlines()) == 4


def test_an_unreadable_background_is_named_or_skipped_when_asked(tmp_path, demo_dir, capsys):
    good = (demo_dir / "train.txt").read_text(encoding="utf-8").splitlines()[0]
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "img_1.jpg").write_bytes((demo_dir / "images" / "img_1.jpg").read_bytes())
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    broken = good.replace("images/img_1.jpg", "images/broken.jpg")
    (tmp_path / "labels.txt").write_text(f"{good}\n{broken}\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"labels.txt:2: .*broken.jpg"):
        synthesize([tmp_path / "labels.txt"], tmp_path, tmp_path / "out", SynthOptions(count=40))
    labels = synthesize(
        [tmp_path / "labels.txt"], tmp_path, tmp_path / "out", SynthOptions(count=40), skip_bad=True
    )
    assert len(labels.read_text(encoding="utf-8").splitlines()) == 40
    assert "skipped 1 bad line(s) or image(s)" in capsys.readouterr().out
