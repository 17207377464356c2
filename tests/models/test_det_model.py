"""The trainable PP-OCRv4 mobile detector against the shipped inference model, and its export."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import yaml

from ocrtrain.config import compose, to_plain
from ocrtrain.devices import parse_device
from ocrtrain.imageio import read_image
from ocrtrain.models.builder import build_model
from ocrtrain.models.export import save_inference
from ocrtrain.models.loading import load_pretrained
from ocrtrain.pipeline.model_source import resolve_model_source
from ocrtrain.pipeline.predictor import InferenceModel
from ocrtrain.preprocess import normalize_det, resize_det

ARCH = to_plain(compose("train", ["det=PP-OCRv4_mobile_det"]).det.arch)


@pytest.fixture(scope="module")
def det_model():
    model = build_model(ARCH)
    report = load_pretrained(model, "PP-OCRv4_mobile_det")
    model.eval()
    return model, report


@pytest.fixture(scope="module")
def demo_batches(demo_dir):
    return [
        normalize_det(resize_det(read_image(demo_dir / "images" / n), 960, "max")[0])[None]
        for n in ("img_1.jpg", "img_7.jpg")
    ]


def test_every_shipped_tensor_loads_and_the_threshold_branch_is_seeded(det_model):
    _, report = det_model
    assert len(report.matched) == 234 and report.matched_fraction == 1.0
    assert not report.missing and not report.unexpected and not report.shape_mismatched
    assert len(report.initialised) == 13 and all(k.startswith("head.thresh.") for k in report.initialised)
    assert "234 matched (100.0% of the model)" in report.summary()


def test_loading_the_wrong_weights_refuses_to_train():
    model = build_model(ARCH)
    report = load_pretrained(model, "PP-OCRv4_mobile_rec")
    assert report.matched_fraction < 0.5
    with pytest.raises(ValueError, match="wrong model for these weights"):
        report.raise_if_poor()


def test_eval_mode_equals_the_shipped_inference_model(det_model, demo_batches):
    model, _ = det_model
    shipped = InferenceModel(
        resolve_model_source("PP-OCRv4_mobile_det", "det"), parse_device("cpu"), enable_mkldnn=False
    )
    for x in demo_batches:
        ours = model(paddle.to_tensor(x)).numpy()
        assert ours.shape == x[:, :1].shape
        assert np.abs(ours - shipped(x)).max() <= 1e-4


def test_train_mode_keeps_the_pretrained_features(det_model, demo_batches):
    """The fused form has no identity BatchNorms: train mode changes only the few real BNs' statistics."""
    model, _ = det_model
    x = np.concatenate([demo_batches[0][..., :640], demo_batches[1][..., :640]])
    eval_prob = model(paddle.to_tensor(x)).numpy()[:, 0]
    model.train()
    try:
        train_maps = model(paddle.to_tensor(x))["maps"].numpy()
    finally:
        model.eval()
    assert train_maps.shape[1] == 3  # probability, threshold, binary
    assert np.abs(train_maps[:, 0] - eval_prob).mean() < 0.03
    text = eval_prob > 0.5
    assert (train_maps[:, 0][text] > 0.3).mean() > 0.95  # text stays text


def test_export_computes_what_the_checkpoint_computes(det_model, demo_batches, tmp_path):
    model, _ = det_model
    save_inference(model, tmp_path, [None, 3, None, None])
    (tmp_path / "inference.yml").write_text(yaml.safe_dump({"ocrtrain": {"task": "det"}}))
    assert {p.name for p in tmp_path.iterdir()} == {"inference.json", "inference.pdiparams", "inference.yml"}
    for mkldnn in (False, True):
        exported = InferenceModel(
            resolve_model_source(str(tmp_path), "det"), parse_device("cpu"), enable_mkldnn=mkldnn
        )
        for x in demo_batches:
            assert np.abs(exported(x) - model(paddle.to_tensor(x)).numpy()).max() <= 1e-4
