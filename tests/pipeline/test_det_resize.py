"""The detector's input size: PaddleOCR's side limits, and a cap that keeps a thin image from needing tens of GB."""

from __future__ import annotations

from conftest import render_lines

from ocrtrain.preprocess import DET_MAX_SIDE, det_resize_shape


def test_side_limits_round_to_multiples_of_32():
    assert det_resize_shape(720, 1280, 960, "max") == (544, 960)
    assert det_resize_shape(720, 1280, 736, "min") == (736, 1312)
    assert det_resize_shape(500, 400, 960, "resize_long") == (960, 768)


def test_a_thin_image_is_scaled_no_further_than_the_largest_side():
    # 736/min would make this strip 736 x 184,000 (a forward pass of ~20 GB)
    assert det_resize_shape(12, 3000, 736, "min") == (32, DET_MAX_SIDE)
    assert det_resize_shape(3000, 12, 736, "min") == (DET_MAX_SIDE, 32)


def test_the_pipeline_reads_a_thin_strip_at_min_resize():
    from ocrtrain import create_pipeline

    strip = render_lines(["A thin strip of text"], font_size=24, size=(1400, 110))[30:78]  # 48 x 1400
    pipe = create_pipeline("OCR", det_limit_side_len=736, det_limit_type="min")
    (res,) = list(pipe.predict(strip))
    assert [t.replace(" ", "") for t in res["rec_text"]] == [
        "Athinstripoftext"
    ]  # at 2.9x the gaps read narrower
