"""The OCR pipeline on the real shipped PP-OCRv4 weights."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import render_lines

LINES = ["Receipt 2026-11-24", "Total amount 1234.56", "PaddleOCR training"]


def test_rendered_lines_are_read_back_in_reading_order(ocr_pipeline):
    img = render_lines(LINES)
    (res,) = list(ocr_pipeline.predict(img))
    assert res["rec_text"] == LINES
    assert res["img_path"] is None
    assert len(res["dt_polys"]) == len(res["dt_scores"]) == len(res["rec_score"]) == 3
    assert all(np.asarray(p).shape == (4, 2) for p in res["dt_polys"])
    assert min(res["rec_score"]) > 0.9


def test_two_columns_read_left_to_right_within_a_line(ocr_pipeline):
    img = np.full((300, 1000, 3), 255, np.uint8)
    left, right = (
        render_lines(["Left column"], size=(450, 130)),
        render_lines(["Right column"], size=(450, 130)),
    )
    img[100:230, 20:470], img[104:234, 520:970] = left, right  # right starts 4 px lower: still the same line
    (res,) = list(ocr_pipeline.predict(img))
    assert res["rec_text"] == ["Left column", "Right column"]


def test_text_line_orientation_turns_upside_down_lines():
    from ocrtrain import create_pipeline

    upside_down = cv2.rotate(render_lines(["Upside down text"], size=(700, 160)), cv2.ROTATE_180)
    plain = create_pipeline("OCR")
    oriented = create_pipeline("OCR", use_textline_orientation=True)
    assert next(plain.predict(upside_down))["rec_text"] != ["Upside down text"]
    assert next(oriented.predict(upside_down))["rec_text"] == ["Upside down text"]


def test_agrees_with_rapidocr_on_real_photos(demo_dir):
    """RapidOCR-paddle is an independent pipeline over the same weights: same boxes (a few px) and texts."""
    from bench_infer import SETTINGS, rapidocr_peer, run_peer

    from ocrtrain import create_pipeline
    from ocrtrain.imageio import read_image

    ours = create_pipeline("OCR", **SETTINGS)
    peer = rapidocr_peer()
    texts_equal = total = 0
    for name in ["img_1.jpg", "img_2.jpg", "img_5.jpg", "img_7.jpg"]:
        img = read_image(demo_dir / "images" / name)
        res = ours.predict_image(img)
        theirs = run_peer(peer, img)
        assert len(res["dt_polys"]) == len(theirs), name
        for box, text, _ in theirs:
            dists = [np.abs(np.asarray(p) - np.asarray(box)).max() for p in res["dt_polys"]]
            j = int(np.argmin(dists))
            assert dists[j] <= 2, f"{name}: box {box} is {dists[j]} px from ours"
            texts_equal += res["rec_text"][j] == text
            total += 1
    assert total > 20
    assert texts_equal >= 0.95 * total


def test_results_save_json_and_picture_named_after_input(ocr_pipeline, demo_dir, tmp_path):
    (res,) = list(ocr_pipeline.predict(str(demo_dir / "images" / "img_1.jpg")))
    json_file, png_file = res.save_to_json(tmp_path), res.save_to_img(tmp_path)
    assert json_file.name == "img_1_ocr.json" and png_file.name == "img_1_ocr.png"
    saved = json.loads(json_file.read_text(encoding="utf-8"))
    assert set(saved) == {"img_path", "dt_polys", "dt_scores", "rec_text", "rec_score"}
    assert saved["rec_text"] == res["rec_text"] and "Carpark" in saved["rec_text"]
    picture = cv2.imread(str(png_file))
    assert picture.shape == (720, 2560, 3)  # image and text panel side by side
    assert (picture[:, 1280:] < 128).any()  # text was drawn on the white panel


def test_predict_is_lazy_over_directories_lists_and_dicts(ocr_pipeline, demo_dir):
    results = ocr_pipeline.predict(str(demo_dir / "images"))
    first = next(results)
    assert first["img_path"].endswith("img_1.jpg")
    assert len(list(results)) == 11
    mixed = list(
        ocr_pipeline.predict([{"img": str(demo_dir / "images" / "img_2.jpg")}, render_lines(["Hello"])])
    )
    assert [r["img_path"] is None for r in mixed] == [False, True]
    assert mixed[1]["rec_text"] == ["Hello"]


@pytest.mark.parametrize("convert", [cv2.COLOR_BGR2GRAY, cv2.COLOR_BGR2BGRA])
def test_grayscale_and_rgba_inputs_are_converted(ocr_pipeline, convert):
    img = cv2.cvtColor(render_lines(LINES[:1], size=(800, 150)), convert)
    assert next(ocr_pipeline.predict(img))["rec_text"] == LINES[:1]


def test_blank_image_gives_empty_result(ocr_pipeline):
    res = next(ocr_pipeline.predict(np.full((200, 300, 3), 255, np.uint8)))
    assert res["dt_polys"] == [] and res["rec_text"] == []


def test_pretrained_model_names_and_roles(tmp_path):
    from ocrtrain import create_pipeline
    from ocrtrain.pipeline.model_source import ModelSourceError
    from ocrtrain.zoo import ModelNotAvailableError

    with pytest.raises(ModelSourceError, match="is a det model but was given as the rec model"):
        create_pipeline("OCR", rec_model="PP-OCRv4_mobile_det")
    with pytest.raises(ModelNotAvailableError, match="not available offline.*rec_model=<exported dir>"):
        create_pipeline("OCR", rec_model="PP-OCRv4_server_rec")
    with pytest.raises(ModelSourceError, match="neither a known zoo name"):
        create_pipeline("OCR", det_model="PP-OCRv9_det")
    with pytest.raises(ModelSourceError, match="not an inference model directory"):
        create_pipeline("OCR", det_model=str(tmp_path))
    with pytest.raises(
        ValueError, match=r"pipeline\.det_treshold: unknown setting \(did you mean pipeline\.det_thresh\?"
    ):
        create_pipeline("OCR", det_treshold=0.2)
