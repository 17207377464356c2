"""One source of inference settings: a model's inference.yml, overridden by pipeline values that are set."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import REPO

from ocrtrain.config import compose
from ocrtrain.imageio import read_image
from ocrtrain.models.export import save_inference
from ocrtrain.tasks import build_task

DET = ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo"]
IMAGE = REPO / "datasets" / "icdar2015_demo" / "images" / "img_1.jpg"


@pytest.fixture(scope="module")
def exported_det(tmp_path_factory):
    """The pretrained detector exported as export does it: program, weights and the task's inference.yml."""
    out = tmp_path_factory.mktemp("det_export")
    task = build_task(compose("train", [*DET, f"data.root={REPO / 'datasets' / 'icdar2015_demo'}"]))
    model = task.build_model()
    task.load_pretrained(model)
    save_inference(model, out, task.export_input_shape())
    meta = task.inference_yml() | {"ocrtrain": {"task": "det"}}
    (out / "inference.yml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return out


def _edit_yml(directory, **post_values):
    meta = yaml.safe_load((directory / "inference.yml").read_text())
    meta["PostProcess"].update(post_values)
    (directory / "inference.yml").write_text(yaml.safe_dump(meta, sort_keys=False))


def test_exported_inference_yml_carries_resize_normalisation_and_db_values(exported_det):
    meta = yaml.safe_load((exported_det / "inference.yml").read_text())
    ops = {next(iter(op)): op[next(iter(op))] for op in meta["PreProcess"]["transform_ops"]}
    assert ops["DetResizeForTest"] == {"limit_side_len": 960, "limit_type": "max"}
    assert ops["NormalizeImage"]["mean"] == [0.485, 0.456, 0.406]
    assert meta["PostProcess"] == {
        "name": "DBPostProcess",
        "thresh": 0.3,
        "box_thresh": 0.6,
        "unclip_ratio": 1.5,
        "max_candidates": 1000,
        "score_mode": "fast",
        "use_dilation": False,
    }


def test_tuned_thresholds_travel_with_the_model_and_the_command_line_still_wins(exported_det, tmp_path):
    from ocrtrain import create_pipeline

    img = read_image(IMAGE)
    as_exported = create_pipeline("OCR", det_model=str(exported_det))
    n_default = len(as_exported.detect(img)[0])
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    for f in exported_det.iterdir():
        (tuned / f.name).write_bytes(f.read_bytes())
    _edit_yml(tuned, box_thresh=0.9, unclip_ratio=2.0)

    pipe = create_pipeline("OCR", det_model=str(tuned))
    assert (pipe.db_config.box_thresh, pipe.db_config.unclip_ratio) == (0.9, 2.0)
    n_tuned = len(pipe.detect(img)[0])
    assert 0 < n_tuned < n_default == 7

    overridden = create_pipeline("OCR", det_model=str(tuned), det_box_thresh=0.6, det_unclip_ratio=1.5)
    assert len(overridden.detect(img)[0]) == n_default
    assert overridden.db_config.thresh == 0.3  # values not given on the command line stay the model's


def test_resize_rule_comes_from_the_model(exported_det, tmp_path):
    from ocrtrain import create_pipeline

    small = tmp_path / "small"
    small.mkdir()
    for f in exported_det.iterdir():
        (small / f.name).write_bytes(f.read_bytes())
    meta = yaml.safe_load((small / "inference.yml").read_text())
    for op in meta["PreProcess"]["transform_ops"]:
        if "DetResizeForTest" in op:
            op["DetResizeForTest"] = {"limit_side_len": 320, "limit_type": "max"}
    (small / "inference.yml").write_text(yaml.safe_dump(meta))
    pipe = create_pipeline("OCR", det_model=str(small))
    assert pipe.det_resize == {"limit_side_len": 320, "limit_type": "max"}
    assert (
        create_pipeline("OCR", det_model=str(small), det_limit_side_len=960).det_resize["limit_side_len"]
        == 960
    )


def test_zoo_models_take_their_settings_from_the_model_config(ocr_pipeline, exported_det):
    """A zoo model (no inference.yml) and its export run with identical settings."""
    from ocrtrain import create_pipeline

    exported = create_pipeline("OCR", det_model=str(exported_det))
    assert ocr_pipeline.db_config == exported.db_config
    assert ocr_pipeline.det_resize == exported.det_resize == {"limit_side_len": 960, "limit_type": "max"}
    assert (
        ocr_pipeline.rec_shape == (48, 320) and len(ocr_pipeline.decode.characters) == 6624
    )  # + the blank: 6,625 classes


def test_eval_uses_the_models_own_db_values(exported_det, tmp_path):
    from ocrtrain.pipeline.model_source import resolve_model_source

    tuned = tmp_path / "tuned"
    tuned.mkdir()
    for f in exported_det.iterdir():
        (tuned / f.name).write_bytes(f.read_bytes())
    _edit_yml(tuned, box_thresh=0.85)
    source = resolve_model_source(str(tuned), "det")
    task = build_task(compose("eval", DET))
    task.use_inference_settings(source.meta, source.origin, "pipeline")
    assert task.db_config.box_thresh == 0.85
    assert task.eval_resize == {"limit_side_len": 960, "limit_type": "max"}
    train_resize = build_task(compose("eval", DET))
    train_resize.use_inference_settings(source.meta, source.origin, "train")
    assert train_resize.eval_resize == {"limit_side_len": 736, "limit_type": "min"}  # the model config's
    assert train_resize.db_config.box_thresh == 0.85


def test_probability_map_of_export_and_zoo_model_agree(ocr_pipeline, exported_det):
    from ocrtrain import create_pipeline

    img = read_image(IMAGE)
    ours = create_pipeline("OCR", det_model=str(exported_det)).detect(img)[0]
    zoo = ocr_pipeline.detect(img)[0]
    assert len(ours) == len(zoo) and max(np.abs(a - b).max() for a, b in zip(ours, zoo, strict=True)) <= 2
