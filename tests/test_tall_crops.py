"""Vertical text runs down or up. A box at least 1.5x taller than wide is turned 90° counter-clockwise to be read (as
PaddleOCR does), which puts text running up upside down; the pipeline and evaluation also read it turned the other
way and keep the surer reading."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import render_lines

from ocrtrain import create_pipeline
from ocrtrain.config import compose
from ocrtrain.postprocess.ctc import keep_surer
from ocrtrain.tasks import build_task

TEXT = "Vertical sign"
RUNS = {"down": cv2.ROTATE_90_CLOCKWISE, "up": cv2.ROTATE_90_COUNTERCLOCKWISE}


def vertical(runs: str):
    return cv2.rotate(render_lines([TEXT], size=(480, 130)), RUNS[runs])


def test_pipeline_reads_vertical_text_running_either_way():
    both, one_way = create_pipeline("OCR"), create_pipeline("OCR", rec_tall_crops_both_ways=False)
    for runs in RUNS:
        assert next(both.predict(vertical(runs)))["rec_text"] == [TEXT], runs
    assert next(one_way.predict(vertical("down")))["rec_text"] == [TEXT]
    assert next(one_way.predict(vertical("up")))["rec_text"] != [TEXT]  # upside down once turned


@pytest.mark.parametrize("both_ways", [True, False])
def test_evaluation_reads_tall_regions_as_the_pipeline_does(tmp_path, both_ways):
    lines = []
    for runs in RUNS:
        img = vertical(runs)
        cv2.imwrite(str(tmp_path / f"{runs}.png"), img)
        ys, xs = np.nonzero(img.min(axis=2) < 128)  # the ink, and a few pixels around it
        x0, y0, x1, y1 = int(xs.min()) - 4, int(ys.min()) - 4, int(xs.max()) + 4, int(ys.max()) + 4
        box = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        lines.append(f"{runs}.png\t" + json.dumps([{"transcription": TEXT, "points": box}]))
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n")
    task = build_task(
        compose(
            "eval",
            [
                "rec=PP-OCRv4_mobile_rec",
                "data=icdar2015_rec_demo",
                f"data.root={tmp_path}",
                "data.val.label_files=[val.txt]",
                f"rec.tall_crops_both_ways={str(both_ways).lower()}",
            ],
        )
    )
    model = task.build_model()
    task.load_pretrained(model)
    model.eval()
    report = task.evaluate(task.dygraph_predictor(model), progress=False)
    readings = [d["prediction"] for d in report["details"]]  # running down, then up
    assert report["samples"] == 2
    assert readings[0] == TEXT and (readings[1] == TEXT) == both_ways, readings
    # the report says which way up each crop was read (worst.png shows it that way)
    assert [d["other_way"] for d in report["details"]] == [False, both_ways]


def test_the_other_reading_wins_only_when_it_scores_higher():
    readings = [("NOOS", 0.9), ("pqnq", 0.6), ("TOP", 0.7)]
    others = [
        ("SOON", 0.8),
        ("bnub", 0.6),
    ]  # crops 0 and 1 read the other way up; a tie keeps the first reading
    assert keep_surer(readings, others, [0, 1]) == (readings, [False, False, False])
    others = [("SOON", 0.95)]
    assert keep_surer(readings, others, [0]) == (
        [("SOON", 0.95), ("pqnq", 0.6), ("TOP", 0.7)],
        [True, False, False],
    )
