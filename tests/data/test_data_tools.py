"""python -m ocrtrain.data: check finds every broken line with its line number; conversions round-trip; splits repeat."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest

from ocrtrain.crop import crop_quad, order_quad
from ocrtrain.data.check import check_dataset
from ocrtrain.data.common import LabelError
from ocrtrain.data.convert import convert
from ocrtrain.data.readers import label_kind, read_labels
from ocrtrain.data.readers.lmdb import Lmdb
from ocrtrain.data.split import split_label_files

FIXTURES = Path(__file__).parent / "check"


def _lines_with_problems(report: dict, name: str) -> dict[int, str]:
    out = {}
    for problem in report["problems"]:
        path, line, reason = problem.split(":", 2)
        if Path(path).name == name:
            out[int(line)] = reason.strip()
    return out


def test_det_check_finds_each_broken_line(tmp_path):
    report = check_dataset(FIXTURES, {"train": ["det_train.txt"], "val": ["det_val.txt"]}, tmp_path)
    assert report["kind"] == "det" and not report["ok"]
    found = _lines_with_problems(report, "det_train.txt")
    assert sorted(found) == [2, 3, 4, 5, 6, 7, 8]  # lines 1 (BOM) and 9 are fine; the file has CRLF ends
    assert found[2].startswith("bad JSON")
    assert found[3].startswith("missing tab")
    assert found[4].startswith("image not found")
    assert "outside the 1280x720 image" in found[5]
    assert "zero area" in found[6]
    assert found[7].startswith("unreadable image:") and "corrupt.jpg" in found[7]
    assert "transcription must be a string" in found[8]
    train = report["splits"]["train"]
    assert train["lines"] == 4 and train["boxes"] == 6 and train["dont_care_share"] == pytest.approx(2 / 6)
    assert report["train_val_overlap"] == [
        [f"{FIXTURES / 'det_train.txt'}:9", f"{FIXTURES / 'det_val.txt'}:1"]
    ]
    assert report["splits"]["val"]["images_without_boxes"] == 1
    written = json.loads((tmp_path / "check_report.json").read_text(encoding="utf-8"))
    assert written["problems"] == report["problems"]
    for picture in report["pictures"]:
        assert cv2.imread(picture) is not None


def test_rec_check_finds_broken_lines_and_dictionary_gaps(tmp_path):
    report = check_dataset(FIXTURES, {"train": ["rec_train.txt"]}, tmp_path)
    assert report["kind"] == "rec"
    found = _lines_with_problems(report, "rec_train.txt")
    assert sorted(found) == [2, 3, 4, 5]
    assert found[2].startswith("missing tab") and found[3] == "empty text"
    assert found[4].startswith("image not found") and found[5].startswith("2 tabs")
    chars = report["splits"]["train"]["characters"]
    assert chars["missing"] == {"\U0001f600": 1} and chars["coverage"] < 1
    assert report["splits"]["train"]["duplicates"] == [
        [f"{FIXTURES / 'rec_train.txt'}:1", f"{FIXTURES / 'rec_train.txt'}:7"]
    ]


def test_strict_turns_findings_into_failure(tmp_path, demo_dir):
    val = ["val.txt"]
    assert check_dataset(demo_dir, {"train": val, "val": val}, tmp_path)["ok"]  # overlap is only a finding...
    assert not check_dataset(demo_dir, {"train": val, "val": val}, tmp_path, strict=True)[
        "ok"
    ]  # ...unless strict


def test_check_cli_exit_codes(tmp_path, demo_dir):
    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "ocrtrain.data", "check", "data=mine", f"output={tmp_path}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)

    clean = run(f"data.root={demo_dir}")
    assert clean.returncode == 0, clean.stderr
    assert "don't-care share" in clean.stdout and clean.stdout.strip().endswith("ok")
    broken = run(f"data.root={FIXTURES}", "data.train.label_files=[det_train.txt]", "~data.val")
    assert broken.returncode == 1
    assert "det_train.txt:2: bad JSON" in broken.stdout and "NOT OK" in broken.stdout


def test_check_reads_data_dict_relative_to_the_data_root_as_training_does(tmp_path, demo_dir):
    rec_demo = demo_dir.parent / "icdar2015_rec_demo"
    root = tmp_path / "data"
    shutil.copytree(rec_demo, root)
    (root / "dict.txt").write_text("a\nb\n", encoding="utf-8")  # far from covering the demo's words
    cmd = [
        sys.executable,
        "-m",
        "ocrtrain.data",
        "check",
        "data=mine",
        f"data.root={root}",
        "data.dict=dict.txt",
    ]
    proc = subprocess.run(
        [*cmd, f"output={tmp_path / 'report'}"], capture_output=True, text=True, cwd=tmp_path
    )
    assert "dictionary file not found" not in proc.stderr
    report = json.loads((tmp_path / "report" / "check_report.json").read_text(encoding="utf-8"))
    assert report["splits"]["train"]["characters"]["coverage"] < 0.5  # measured against the two-letter dict


def test_a_dont_care_box_past_the_image_edge_is_not_a_problem(tmp_path, demo_dir):
    """Training masks don't-care boxes where they fall in the image; annotation tools leave a few points outside."""
    image = demo_dir / "images" / "img_1.jpg"
    boxes = [{"transcription": "###", "points": [[-5, -5], [40, -5], [40, 20], [-5, 20]]}]
    (tmp_path / "labels.txt").write_text(f"{image}\t{json.dumps(boxes)}\n", encoding="utf-8")
    report = check_dataset(tmp_path, {"train": ["labels.txt"]}, tmp_path / "out")
    assert report["ok"] and not report["problems"]
    boxes[0]["transcription"] = "word"
    (tmp_path / "labels.txt").write_text(f"{image}\t{json.dumps(boxes)}\n", encoding="utf-8")
    report = check_dataset(tmp_path, {"train": ["labels.txt"]}, tmp_path / "out")
    assert "point (-5, -5) outside the 1280x720 image" in report["problems"][0]


def test_icdar2015_conversion_reproduces_the_paddleocr_labels(tmp_path, demo_dir):
    out = tmp_path / "labels.txt"
    convert("icdar2015", demo_dir / "icdar_gt", out, root=demo_dir / "images")
    lines = out.read_text(encoding="utf-8").splitlines()
    expected = {line.split("\t")[0].split("/")[-1]: line.split("\t")[1] for line in lines}
    committed = (demo_dir / "train.txt").read_text(encoding="utf-8").splitlines()
    committed += (demo_dir / "val.txt").read_text(encoding="utf-8").splitlines()
    assert (
        len(lines) == 12
        and {c.split("\t")[0].split("/")[-1]: c.split("\t")[1] for c in committed} == expected
    )
    # paths are relative to the label file, so the converted file is usable where it was written
    samples, _ = read_labels("labels.txt", tmp_path)
    assert samples[0].image_path.resolve() == (demo_dir / "images" / "img_1.jpg").resolve()


def test_icdar2015_conversion_keeps_a_linked_images_folder_in_its_paths(tmp_path, demo_dir):
    """README's recipe links the read-only dataset's images into a working folder: the labels written there must
    name the link, not where it points."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "images").symlink_to(demo_dir / "images")
    out = tmp_path / "work" / "labels.txt"
    convert("icdar2015", demo_dir / "icdar_gt", out, root=tmp_path / "work" / "images")
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("images/img_1.jpg\t")


def test_rec_lmdb_round_trip_through_the_cli(tmp_path, demo_dir):
    rec_demo = demo_dir.parent / "icdar2015_rec_demo"
    cli = [sys.executable, "-m", "ocrtrain.data", "convert"]
    subprocess.run(
        [*cli, "rec-to-lmdb", f"input={rec_demo / 'val.txt'}", f"output={tmp_path / 'db'}"], check=True
    )
    subprocess.run(
        [*cli, "lmdb-to-rec", f"input={tmp_path / 'db'}", f"output={tmp_path / 'back'}"], check=True
    )
    original, _ = read_labels("val.txt", rec_demo)
    back, _ = read_labels("labels.txt", tmp_path / "back")
    assert [(s.image.read_bytes(), s.text) for s in back] == [
        (s.image.read_bytes(), s.text) for s in original
    ]
    assert sum(1 for _ in Lmdb(tmp_path / "db", tmp_path)) == len(original) == 58


def test_det_to_rec_crops_like_the_pipeline(tmp_path, demo_dir):
    message = convert("det-to-rec", demo_dir / "val.txt", tmp_path / "crops")
    samples, _ = read_labels("val.txt", demo_dir)
    kept = [(s, k) for s in samples for k, ignore in enumerate(s.ignore) if not ignore]
    assert message.startswith(f"{len(kept)} crops")
    crops, _ = read_labels("labels.txt", tmp_path / "crops")
    assert [c.text for c in crops] == [s.texts[k] for s, k in kept]  # don't-care boxes are skipped
    sample, k = kept[0]
    expected = crop_quad(cv2.imread(str(sample.image_path)), order_quad(sample.polys[k]))
    assert np.array_equal(cv2.imread(str(crops[0].image)), expected)


def test_det_to_rec_keeps_apart_images_of_one_name_in_two_folders(tmp_path, demo_dir):
    lines = []
    for folder, image in (("shop1", "img_1.jpg"), ("shop2", "img_2.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copy(demo_dir / "images" / image, tmp_path / folder / "0001.jpg")
        line = next(line for line in (demo_dir / "train.txt").read_text().splitlines() if image in line)
        lines.append(line.replace(f"images/{image}", f"{folder}/0001.jpg"))
    (tmp_path / "det.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    convert("det-to-rec", tmp_path / "det.txt", tmp_path / "words")
    crops, _ = read_labels("labels.txt", tmp_path / "words")
    samples, _ = read_labels("det.txt", tmp_path)
    kept = [(s, k) for s in samples for k, ignore in enumerate(s.ignore) if not ignore]
    assert len({c.image for c in crops}) == len(crops) == len(kept)  # a file per crop
    for crop, (sample, k) in zip(crops, kept, strict=True):  # each holds its own box
        expected = crop_quad(cv2.imread(str(sample.image_path)), order_quad(sample.polys[k]))
        assert crop.text == sample.texts[k] and np.array_equal(cv2.imread(str(crop.image)), expected)


def test_ppocrlabel_output_is_read_as_is(tmp_path, demo_dir):
    """PPOCRLabel writes <folder>/Label.txt (paths '<folder>/<image>') and rec_gt.txt with crop_img/."""
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "img_2.jpg").write_bytes((demo_dir / "images" / "img_2.jpg").read_bytes())
    item = {
        "transcription": "EXIT",
        "points": [[602, 173], [635, 175], [634, 197], [602, 196]],
        "difficult": False,
    }
    (folder / "Label.txt").write_text(f"shots/img_2.jpg\t{json.dumps([item])}\n", encoding="utf-8")
    convert("det-to-rec", folder / "Label.txt", tmp_path / "cut", root=tmp_path)
    (folder / "crop_img").mkdir()
    crop = next((tmp_path / "cut" / "crops").iterdir())
    (folder / "crop_img" / "img_2_crop_0.jpg").write_bytes(
        cv2.imencode(".jpg", cv2.imread(str(crop)))[1].tobytes()
    )
    (folder / "rec_gt.txt").write_text("crop_img/img_2_crop_0.jpg\tEXIT\n", encoding="utf-8")
    assert label_kind(folder / "Label.txt") == "det" and label_kind(folder / "rec_gt.txt") == "rec"
    assert check_dataset(tmp_path, {"train": ["shots/Label.txt"]}, tmp_path / "r1")["ok"]
    assert check_dataset(folder, {"train": ["rec_gt.txt"]}, tmp_path / "r2")["ok"]


def test_split_is_deterministic_and_complete(tmp_path):
    lines = [f"images/{i}.jpg\t[]" for i in range(100)]
    (tmp_path / "all.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def parts(seed: int, ratios: list[float], out: str) -> dict[str, list[str]]:
        written = split_label_files([tmp_path / "all.txt"], tmp_path / out, ratios, seed)
        return {name: path.read_text(encoding="utf-8").splitlines() for name, path in written.items()}

    a, b, c = parts(0, [0.8, 0.2], "a"), parts(0, [0.8, 0.2], "b"), parts(1, [0.8, 0.2], "c")
    assert a == b and a != c
    assert len(a["train"]) == 80 and len(a["val"]) == 20
    assert sorted(a["train"] + a["val"]) == sorted(lines)
    three = parts(0, [0.7, 0.2, 0.1], "d")
    assert [len(three[k]) for k in ("train", "val", "test")] == [70, 20, 10]
    with pytest.raises(ValueError, match="2 or 3 non-negative"):
        parts(0, [1.0], "e")


def _split(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ocrtrain.data", "split", *args], capture_output=True, text=True, cwd=cwd
    )


def test_split_never_overwrites_its_input_and_replaces_outputs_only_when_told(tmp_path, demo_dir):
    shutil.copy(demo_dir / "train.txt", tmp_path / "train.txt")
    (tmp_path / "val.txt").write_text("the user's val split\n", encoding="utf-8")
    given = {name: (tmp_path / name).read_bytes() for name in ("train.txt", "val.txt")}
    for extra in ([], ["overwrite=true"]):
        refused = _split("input=train.txt", *extra, cwd=tmp_path)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-2000:]
        assert "error: train.txt: is an input of this split" in refused.stderr
    assert {name: (tmp_path / name).read_bytes() for name in given} == given  # nothing written

    into = f"output={tmp_path / 'out'}"
    assert _split("input=train.txt", into, cwd=tmp_path).returncode == 0
    first = (tmp_path / "out" / "train.txt").read_text(encoding="utf-8")
    again = _split("input=train.txt", into, "seed=1", cwd=tmp_path)
    assert (
        again.returncode == 2
        and f"error: {tmp_path / 'out' / 'train.txt'}: exists; overwrite=true" in again.stderr
    )
    assert _split("input=train.txt", into, "seed=1", "overwrite=true", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out" / "train.txt").read_text(encoding="utf-8") != first  # the seed=1 split


def test_split_keeps_lines_whose_text_holds_unicode_line_separators(tmp_path):
    lines = ["a.png\tfoo\u2028bar", "b.png\tbaz\x85qux", "c.png\tplain"]  # valid rec lines
    (tmp_path / "all.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    written = split_label_files([tmp_path / "all.txt"], tmp_path / "out", [2, 1])
    parts = [written[name].read_bytes().decode("utf-8").split("\n") for name in ("train", "val")]
    assert sorted(line for part in parts for line in part if line) == lines


def test_split_names_the_file_and_line_that_is_not_utf8(tmp_path):
    (tmp_path / "all.txt").write_bytes(b"a.png\tok\n" + "b.png\t中文\n".encode("gbk"))
    with pytest.raises(LabelError, match=r"all\.txt:2: not UTF-8 \(byte 0xd6 at column 7\)"):
        split_label_files([tmp_path / "all.txt"], tmp_path / "out", [0.5, 0.5])
    assert not (tmp_path / "out").exists()


def _script_output(script: str, *args: str) -> str:
    """What one of scripts/ prints, run from the repository root (it fails the test on a non-zero exit)."""
    return subprocess.run(
        [sys.executable, f"scripts/{script}", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    ).stdout


def test_text_scale_script_compares_training_crops_with_evaluation(demo_dir):
    """scripts/det_text_scale.py: evaluation heights are the labelled words' at the eval resize (1280x720 -> x736/720)."""
    out = _script_output(
        "det_text_scale.py",
        "--root",
        str(demo_dir),
        "--train",
        "train.txt",
        "--val",
        "val.txt",
        "--crops",
        "6",
    )
    samples, _ = read_labels("val.txt", demo_dir, kind="det")
    heights = [
        min(cv2.minAreaRect(p.astype(np.float32))[1]) * 736 / 720
        for s in samples
        for p, ign in zip(s.polys, s.ignore, strict=True)
        if not ign
    ]
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines() if "words" in line}
    evaluation, training = rows["evaluation"], rows["training crops"]

    def median(row: list[str]) -> float:
        return float(row[row.index("median") + 1])

    assert int(evaluation[1]) == len(heights) and median(evaluation) == pytest.approx(
        np.median(heights), abs=0.05
    )
    assert int(training[2]) > 0  # the crops kept words
    lines = {line.split(":")[0]: line.rsplit(":", 1)[1] for line in out.splitlines() if ":" in line}
    ratio = float(lines["median ratio training / evaluation"])
    assert ratio == pytest.approx(median(training) / median(evaluation), abs=0.01)
    without, of = lines["training crops without a word to learn (only don't-care text or none)"].split(" of ")
    assert int(of) == 6 and 0 <= int(without) < 6


def test_det_kernel_stats_counts_the_labelled_words_and_the_models_text_regions(demo_dir):
    """scripts/det_kernel_stats.py on the shipped detector: every word to learn of the images is counted, the model's
    text regions are found, and its probability inside the word kernels is that of a model that finds text."""
    out = _script_output(
        "det_kernel_stats.py", "--root", str(demo_dir), "--val", "val.txt", "--models", "PP-OCRv4_mobile_det"
    )
    samples, _ = read_labels("val.txt", demo_dir, kind="det")
    words = sum(1 for s in samples for ign in s.ignore if not ign)
    row = next(line.split() for line in out.splitlines() if line.startswith("PP-OCRv4_mobile_det"))
    regions, counted, confident, _, kernel_p = row[1:]
    assert int(counted) == words and int(regions) >= int(confident) > 0
    assert float(kernel_p) > 0.5


def test_a_conversion_does_not_write_over_an_existing_output(tmp_path, demo_dir):
    """rec-to-lmdb into an existing LMDB used to overwrite it in place, keeping the old records past the new count;
    now it refuses, and overwrite=true replaces the database whole."""
    rec_demo = demo_dir.parent / "icdar2015_rec_demo"
    labels = rec_demo / "train.txt"
    lmdb_dir = tmp_path / "lmdb"
    convert("rec-to-lmdb", labels, lmdb_dir, root=rec_demo)
    with pytest.raises(ValueError, match="data.mdb: exists; overwrite=true replaces it"):
        convert("rec-to-lmdb", labels, lmdb_dir, root=rec_demo)
    few = tmp_path / "few.txt"
    few.write_text(
        "".join(labels.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8"
    )
    (tmp_path / "images").symlink_to(rec_demo / "images")
    convert("rec-to-lmdb", few, lmdb_dir, root=tmp_path, overwrite=True)
    env = lmdb.open(str(lmdb_dir), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b"num-samples") == b"3" and txn.stat()["entries"] == 2 * 3 + 1
    env.close()
    out = tmp_path / "labels.txt"
    convert("icdar2015", demo_dir / "icdar_gt", out, root=demo_dir / "images")
    with pytest.raises(ValueError, match="labels.txt: exists"):
        convert("icdar2015", demo_dir / "icdar_gt", out, root=demo_dir / "images")
