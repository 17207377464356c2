"""Detection labels: PaddleOCR format, broken lines reported with file:line, ICDAR 2015 conversion."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from ocrtrain.data.common import LabelError
from ocrtrain.data.det_dataset import DetDataset
from ocrtrain.data.det_labels import det_label_line, icdar_gt_to_items
from ocrtrain.data.readers import read_labels

FIXTURES = Path(__file__).parent / "det"


def test_demo_labels_parse_with_dont_care(demo_dir):
    samples, skipped = read_labels("train.txt", demo_dir)
    assert len(samples) == 10 and len(skipped) == 0
    first = samples[0]
    assert first.texts[:2] == ["Genaxis Theatre", "[06]"]
    assert first.ignore == [t == "###" for t in first.texts]
    assert first.polys[0].shape == (4, 2) and first.source.endswith("train.txt:1")


def test_first_bad_line_fails_with_file_and_line():
    with pytest.raises(LabelError, match=r"broken\.txt:2: missing tab"):
        read_labels("broken.txt", FIXTURES)


def test_skip_bad_reports_every_problem_with_its_line():
    dataset = DetDataset(FIXTURES, ["broken.txt"], skip_bad=True)
    samples, skipped = dataset.samples, dataset.skipped
    assert [Path(s.image_path).name for s in samples] == ["img_1.jpg", "img_6.jpg"]  # BOM and CRLF are fine
    assert samples[1].polys == []  # an image without boxes is kept (trained on as background)
    reasons = {e.line_no: e.reason for e in skipped.problems}
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert "missing tab" in reasons[2]
    assert "bad JSON" in reasons[3]
    assert "N x 2 with N >= 3" in reasons[4]
    assert "image not found" in reasons[5]
    assert "transcription must be a string" in reasons[6]
    assert "skipped 5 bad line(s) or image(s)" in skipped.summary()


def test_bad_json_column_counts_from_the_line_start(tmp_path):
    line = 'images/img_1.jpg\t[{"transcription": "x", "points": [[1, 2], [3, 4], [5, 6]]]'
    (tmp_path / "labels.txt").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(LabelError) as e:
        read_labels("labels.txt", tmp_path)
    column = int(str(e.value).rsplit("at column ", 1)[1].split(")")[0])
    assert (
        line[column - 1] == "]"
    )  # where an editor's cursor lands: the bracket closing what should be an object


def test_a_recognition_label_read_as_detection_says_so(tmp_path):
    (tmp_path / "labels.txt").write_text("images/img_1_0.png\tGenaxis Theatre\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"labels\.txt:1: bad JSON .*looks like a recognition label"):
        read_labels("labels.txt", tmp_path, kind="det")


def test_icdar_ground_truth_converts_to_the_paddleocr_labels(demo_dir):
    expected = (demo_dir / "train.txt").read_text(encoding="utf-8").splitlines()
    expected += (demo_dir / "val.txt").read_text(encoding="utf-8").splitlines()
    converted = []
    for n in range(1, 13):
        gt = demo_dir / "icdar_gt" / f"gt_img_{n}.txt"
        h, w = cv2.imread(str(demo_dir / "images" / f"img_{n}.jpg")).shape[:2]
        items = icdar_gt_to_items(gt, (h, w))
        converted.append(det_label_line(f"images/img_{n}.jpg", items))
    assert converted == expected


def test_icdar_transcriptions_keep_commas_and_bad_rows_name_the_line(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("\ufeff1,2,3,2,3,4,1,4,Hello, world\r\n", encoding="utf-8")
    items = icdar_gt_to_items(gt)
    assert items == [{"transcription": "Hello, world", "points": [[1, 2], [3, 2], [3, 4], [1, 4]]}]
    gt.write_text("1,2,3,2,3,4,1,4,ok\n1,2,x,2,3,4,1,4,bad\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"gt\.txt:2: coordinates are not numbers"):
        icdar_gt_to_items(gt)


def test_icdar_transcriptions_may_hold_unicode_line_separators(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("1,2,3,2,3,4,1,4,a\u2028b\n1,2,3,2,3,4,1,4,c\x85d\n1,2,x,2,3,4,1,4,bad\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"gt\.txt:3: coordinates are not numbers"):
        icdar_gt_to_items(gt)
    gt.write_text("1,2,3,2,3,4,1,4,a\u2028b\n1,2,3,2,3,4,1,4,c\x85d\n", encoding="utf-8")
    assert [item["transcription"] for item in icdar_gt_to_items(gt)] == ["a\u2028b", "c\x85d"]


def test_icdar_ground_truth_not_utf8_names_the_file_and_line(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_bytes(b"1,2,3,2,3,4,1,4,ok\n" + "1,2,3,2,3,4,1,4,中\n".encode("gbk"))
    with pytest.raises(LabelError, match=r"gt\.txt:2: not UTF-8"):
        icdar_gt_to_items(gt)


def test_ppocrlabel_lines_with_extra_keys(tmp_path, demo_dir):
    line = (
        f"{demo_dir / 'images' / 'img_2.jpg'}\t"
        '[{"transcription": "EXIT", "points": [[602, 173], [635, 175], [634, 197], [602, 196]], "difficult": false, '
        '"key_cls": "None"}, {"transcription": "*", "points": [[1, 1], [9, 1], [9, 9], [1, 9], [0, 5]]}]'
    )
    (tmp_path / "Label.txt").write_text(line + "\n", encoding="utf-8")
    samples, _ = read_labels("Label.txt", tmp_path)
    assert samples[0].texts == ["EXIT", "*"] and samples[0].ignore == [False, True]
    assert samples[0].polys[1].shape == (5, 2)  # polygons may have any number of points
