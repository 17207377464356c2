"""Issue 10 items 1-2: a bad image in a training label file gives a ``file:line: reason`` error (also across
data worker processes), or with ``skip_bad`` is skipped, reported and replaced; tiny images train."""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import one_bit_png

from ocrtrain.data.check import check_dataset
from ocrtrain.data.common import LabelError
from ocrtrain.data.det_dataset import DetDataset
from ocrtrain.data.dictionary import CharDict
from ocrtrain.data.rec_dataset import RecDataset, collate_rec
from ocrtrain.imageio import ImageError

REPO = Path(__file__).resolve().parents[2]
BOX = [{"transcription": "text", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}]


def _det_line(rel: str, items: list[dict]) -> str:
    return f"{rel}\t{json.dumps(items)}"


@pytest.fixture
def det_root(tmp_path: Path, demo_dir: Path) -> Path:
    """Two real demo images and their labels, under tmp_path/images."""
    (tmp_path / "images").mkdir()
    lines = (demo_dir / "train.txt").read_text(encoding="utf-8").splitlines()[:2]
    for line in lines:
        rel = line.split("\t")[0]
        shutil.copy(demo_dir / rel, tmp_path / rel)
    (tmp_path / "good.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def _with_bad_image(root: Path, name: str, data: bytes, items: list[dict] = BOX) -> str:
    """good.txt with a second line pointing at an image holding ``data``; returns the label file name."""
    (root / "images" / name).write_bytes(data)
    good = (root / "good.txt").read_text(encoding="utf-8").splitlines()
    label = f"bad_{Path(name).stem}.txt"
    (root / label).write_text(
        "\n".join([good[0], _det_line(f"images/{name}", items), good[1]]) + "\n", "utf-8"
    )
    return label


def _truncated_jpeg(root: Path) -> bytes:
    return (root / "images" / "img_1.jpg").read_bytes()[:400]


BAD_IMAGES = {
    "text.jpg": lambda root: b"this is not an image\n",
    "empty.jpg": lambda root: b"",
    "truncated.jpg": _truncated_jpeg,
}


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_bad_image_is_a_label_error_naming_file_and_line(det_root, name):
    label = _with_bad_image(det_root, name, BAD_IMAGES[name](det_root))
    with pytest.raises(LabelError, match=rf"{label}:2: .*{name}"):
        DetDataset(det_root, [label], mode="train")


def test_errors_survive_pickling_and_the_worker_reraise():
    err = LabelError("/data/train.txt", 2, "unreadable image: /data/a.jpg: empty file (0 bytes)")
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.line_no, back.reason) == (err.path, err.line_no, err.reason)
    assert str(back) == "/data/train.txt:2: unreadable image: /data/a.jpg: empty file (0 bytes)"
    image_err = pickle.loads(pickle.dumps(ImageError("/data/a.jpg: empty file (0 bytes)")))
    assert str(image_err) == "/data/a.jpg: empty file (0 bytes)"
    # paddle's DataLoader re-raises a worker's error as type(message-with-traceback)
    try:
        raise err
    except LabelError:
        import traceback

        wrapped = "DataLoader worker(1) caught LabelError with message:\n" + traceback.format_exc()
    rebuilt = LabelError(wrapped)
    assert str(rebuilt) == str(err) and rebuilt.line_no == 2 and rebuilt.path == "/data/train.txt"


LOADER = """
import sys
from ocrtrain.data.det_dataset import DetDataset
from ocrtrain.engine.loader import BatchLoader

dataset = DetDataset(sys.argv[1], [sys.argv[2]], mode="train", skip_bad=sys.argv[3] == "1")
stack = lambda samples: {k: [s[k] for s in samples] for k in samples[0]}
loader = BatchLoader(dataset, stack, num_workers=2, timeout_s=60)
print("batches", sum(1 for _ in loader.epoch([[(i, 7)] for i in range(len(dataset))])))
"""


def _load_with_two_workers(root: Path, label: str, skip_bad: bool) -> subprocess.CompletedProcess:
    """Every batch through the trainer's loader with 2 worker processes, in a child process under a timeout."""
    return subprocess.run(
        [sys.executable, "-c", LOADER, str(root), label, "1" if skip_bad else "0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_truncated_body_found_at_load_time_names_file_and_line_across_workers(det_root):
    """An image whose header is fine but whose body cannot be decoded passes the start-up probe."""
    data = (det_root / "images" / "img_1.jpg").read_bytes()
    label = _with_bad_image(det_root, "body.jpg", data[:200] + b"\x00" * (len(data) - 200))
    dataset = DetDataset(det_root, [label], mode="train")  # the header is readable
    with pytest.raises(LabelError, match=rf"{label}:2: unreadable image: .*body\.jpg"):
        dataset[1]
    run = _load_with_two_workers(det_root, label, skip_bad=False)
    # the worker's LabelError reaches the main process as itself, file and line intact
    assert run.returncode == 1
    expected = (
        f"ocrtrain.data.common.LabelError: {det_root / label}:2: unreadable image: {det_root}/images/body.jpg"
    )
    assert expected in run.stderr, run.stderr[-2000:]


def test_skip_bad_skips_reports_and_replaces(det_root, caplog):
    label = _with_bad_image(det_root, "text.jpg", b"not an image")
    with caplog.at_level(logging.WARNING, logger="ocrtrain"):
        dataset = DetDataset(det_root, [label], mode="train", skip_bad=True)
    assert len(dataset) == 2 and len(dataset.skipped) == 1
    assert f"{label}:2: unreadable image" in caplog.text and "text.jpg" in caplog.text


def test_skip_bad_replaces_an_image_broken_at_load_time(det_root, caplog):
    data = (det_root / "images" / "img_1.jpg").read_bytes()
    label = _with_bad_image(det_root, "body.jpg", data[:200] + b"\x00" * (len(data) - 200))
    dataset = DetDataset(det_root, [label], mode="train", skip_bad=True)
    with caplog.at_level(logging.WARNING, logger="ocrtrain"):
        replaced = dataset[(1, 7)]
    assert f"{label}:2: unreadable image" in caplog.text
    # replaced by the next sample, deterministically
    np.testing.assert_array_equal(replaced["image"], dataset[(2, 7)]["image"])
    run = _load_with_two_workers(det_root, label, skip_bad=True)
    assert run.returncode == 0 and "batches 3" in run.stdout, run.stderr
    assert f"{label}:2: unreadable image" in run.stderr


@pytest.mark.parametrize(
    ("side", "pixels"),
    [
        (20000, "400,000,000"),
        (10000, "10000x10000 = 100,000,000"),
    ],  # past PIL's refusal, and past its warning
)
def test_an_image_too_large_is_named_or_skipped(det_root, tmp_path, caplog, side, pixels):
    """A 20000 x 20000 PNG of ~80 KB used to end training and data check with PIL's DecompressionBombError, even
    with skip_bad; one of 10000 x 10000 was decoded (1.2 GB)."""
    label = _with_bad_image(det_root, "huge.png", one_bit_png(side))
    reason = f"unreadable image: {det_root}/images/huge.png: image too large ({pixels} pixels; the limit is 89,478,485)"
    with pytest.raises(LabelError) as refused:
        DetDataset(det_root, [label], mode="train")
    assert str(refused.value) == f"{det_root / label}:2: {reason}"
    with caplog.at_level(logging.WARNING, logger="ocrtrain"):
        dataset = DetDataset(det_root, [label], mode="train", skip_bad=True)
    assert len(dataset) == 2 and f"{label}:2: {reason}" in caplog.text
    report = check_dataset(det_root, {"train": [label]}, tmp_path / "check")
    assert f"{det_root / label}:2: {reason}" in report["problems"]


@pytest.mark.parametrize("size", [(1, 1), (2, 500), (500, 2), (5, 7)])
def test_tiny_images_with_boxes_train_det(det_root, size):
    h, w = size
    ok, png = cv2.imencode(".png", np.full((h, w, 3), 200, np.uint8))
    label = _with_bad_image(det_root, "tiny.png", png.tobytes())
    dataset = DetDataset(det_root, [label], mode="train", crop_size=320)
    for seed in range(10):
        item = dataset[(1, seed)]
        assert item["image"].shape == (3, 320, 320) and np.isfinite(item["threshold_map"]).all()
    evaluated = DetDataset(det_root, [label], mode="eval")[1]
    assert evaluated["image"].shape[0] == 3 and tuple(evaluated["shape"]) == (h, w)


def test_tiny_and_extreme_crops_train_rec(tmp_path):
    """Word concatenation (RecConAug) mixes crops: a 500x2 strip next to a 1x300 line asked for gigabytes."""
    sizes = [(1, 1), (2, 500), (500, 2), (3, 3), (1, 300)]
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    for h, w in sizes:
        cv2.imwrite(str(tmp_path / "images" / f"{h}x{w}.png"), rng.integers(0, 255, (h, w, 3), np.uint8))
    lines = [f"images/{h}x{w}.png\tab" for h, w in sizes]
    (tmp_path / "rec.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    char_dict = CharDict.pretrained()
    dataset = RecDataset(tmp_path, ["rec.txt"], char_dict, mode="train", multiscale_heights=[32, 48])
    for index in range(len(sizes)):
        batch = collate_rec([dataset[(index, seed)] for seed in range(40)], [32, 48], 320)
        assert batch["image"].shape[:2] == (40, 3) and np.isfinite(batch["image"]).all()
    # a box on a 1x1 image in a det label file, cut out for rec
    (tmp_path / "det.txt").write_text(_det_line("images/1x1.png", BOX) + "\n", encoding="utf-8")
    dataset = RecDataset(tmp_path, ["det.txt"], char_dict, mode="train")
    assert all(dataset[(0, seed)]["image"].shape == (3, 48, 320) for seed in range(20))
