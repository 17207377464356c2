"""The trainable PP-OCRv4 mobile recogniser against the shipped inference model, and its export."""

from __future__ import annotations

import cv2
import numpy as np
import paddle
import pytest
import yaml

from ocrtrain.config import compose, to_plain
from ocrtrain.data.dictionary import CharDict
from ocrtrain.devices import parse_device
from ocrtrain.models.builder import build_model
from ocrtrain.models.export import save_inference
from ocrtrain.models.loading import load_pretrained
from ocrtrain.pipeline.model_source import resolve_model_source
from ocrtrain.pipeline.predictor import InferenceModel
from ocrtrain.postprocess.ctc import ctc_greedy_decode
from ocrtrain.preprocess import resize_norm_rec

ARCH = to_plain(compose("train", ["rec=PP-OCRv4_mobile_rec"]).rec.arch)


@pytest.fixture(scope="module")
def rec_model():
    model = build_model(ARCH, num_classes=6625)
    report = load_pretrained(model, "PP-OCRv4_mobile_rec")
    model.eval()
    return model, report


@pytest.fixture(scope="module")
def word_crops(demo_dir):
    root = demo_dir.parent / "icdar2015_rec_demo"
    lines = (root / "val.txt").read_text(encoding="utf-8").splitlines()
    crops = [cv2.imread(str(root / line.split("\t")[0])) for line in lines]
    return np.stack([resize_norm_rec(c, 48, 320) for c in crops]), [line.split("\t")[1] for line in lines]


def test_every_shipped_tensor_loads(rec_model):
    _, report = rec_model
    assert len(report.matched) == 234 and report.matched_fraction == 1.0 and not report.unexpected


def test_eval_mode_equals_the_shipped_model_on_real_crops(rec_model, word_crops):
    model, _ = rec_model
    x, truth = word_crops
    shipped = InferenceModel(
        resolve_model_source("PP-OCRv4_mobile_rec", "rec"), parse_device("cpu"), enable_mkldnn=False
    )
    for start in range(0, len(x), 16):
        ours = model(paddle.to_tensor(x[start : start + 16])).numpy()
        assert ours.shape[1:] == (40, 6625)
        assert np.abs(ours - shipped(x[start : start + 16])).max() <= 1e-4
    texts = [
        t
        for t, _ in ctc_greedy_decode(
            model(paddle.to_tensor(x)).numpy(), list(CharDict.pretrained().characters)
        )
    ]
    exact = np.mean([t.lower() == g.lower() for t, g in zip(texts, truth, strict=True)])
    assert exact >= 0.7  # measured 0.81 on these 58 ICDAR 2015 words (case-insensitive)


def test_train_mode_returns_logits_of_the_same_prediction(rec_model, word_crops):
    model, _ = rec_model
    x = paddle.to_tensor(word_crops[0][:8])
    probs = model(x).numpy()
    model.train()
    try:
        logits = model(x)["ctc"].numpy()
    finally:
        model.eval()
    assert np.abs(probs.sum(axis=2) - 1).max() < 1e-4 and not np.allclose(logits.sum(axis=2), 1)
    agreement = (logits.argmax(axis=2) == probs.argmax(axis=2)).mean()
    assert agreement > 0.95  # dropout and batch statistics only


def test_export_computes_what_the_model_computes(rec_model, word_crops, tmp_path):
    model, _ = rec_model
    x = word_crops[0][:6]
    save_inference(model, tmp_path, [None, 3, 48, None])
    chars = list(CharDict.pretrained().characters[:-1])  # PaddleX appends the space itself
    meta = {"ocrtrain": {"task": "rec"}, "PostProcess": {"name": "CTCLabelDecode", "character_dict": chars}}
    (tmp_path / "inference.yml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    exported = InferenceModel(resolve_model_source(str(tmp_path), "rec"), parse_device("cpu"))
    assert np.abs(exported(x) - model(paddle.to_tensor(x)).numpy()).max() <= 1e-4
    wide = np.concatenate([x, x], axis=3)  # any width: the exported program is width-dynamic
    assert exported(wide).shape == (6, 80, 6625)
