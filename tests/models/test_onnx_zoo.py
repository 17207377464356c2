"""Zoo models that ship as ONNX (PP-OCRv5 mobile, PP-OCRv6 small and tiny): loaded into our trainable modules by graph order, they compute
what ONNX Runtime computes on the shipped graph, on real images, in eval mode and in training's train mode."""

from __future__ import annotations

import cv2
import numpy as np
import paddle
import pytest
from paddle import nn

from ocrtrain import zoo
from ocrtrain.config import compose, to_plain
from ocrtrain.data.dictionary import CharDict
from ocrtrain.engine.trainer import set_train_mode
from ocrtrain.imageio import read_image
from ocrtrain.models.builder import build_model
from ocrtrain.models.loading import load_pretrained
from ocrtrain.models.weights import WeightsError, read_weights
from ocrtrain.postprocess.ctc import ctc_greedy_decode
from ocrtrain.postprocess.db import DBPostProcess, db_boxes
from ocrtrain.preprocess import normalize_det, resize_det, resize_norm_rec
from ocrtrain.tasks.rec import RecTask

pytest.importorskip("onnxruntime")

# zoo name -> tensors the shipped graph holds for our modules / classes of the recogniser (dictionary + space + blank)
DET_MODELS = {"PP-OCRv5_mobile_det": 234, "PP-OCRv6_small_det": 162, "PP-OCRv6_tiny_det": 162}
REC_MODELS = {
    "PP-OCRv5_mobile_rec": (234, 18_385),
    "PP-OCRv6_small_rec": (151, 18_710),
    "PP-OCRv6_tiny_rec": (90, 6_906),
}
# max abs difference to ONNX Runtime. Train mode computes each conv + affine as one conv with folded weights
# (models.layers.conv_affine), which rounds in another order than the graph's conv-then-affine: measured worst
# 1.24e-4 (PP-OCRv5 mobile rec softmax; 5.0e-5 in eval mode), v5 det 4.9e-5, every other model <= 4.5e-5
TOLERANCE = {"eval": 1e-4, "train": 3e-4}


def _config(kind: str, name: str):
    return compose("train", [f"{kind}={name}", f"data=icdar2015_{'rec_' if kind == 'rec' else ''}demo"])


def _loaded(kind: str, name: str):
    cfg = _config(kind, name)
    extra = {"num_classes": CharDict.pretrained(cfg.rec.dictionary).num_classes} if kind == "rec" else {}
    model = build_model(to_plain(cfg[kind].arch), **extra)
    report = load_pretrained(model, name)
    model.eval()
    return model, report, read_weights(name).graph_order.run, cfg, name


def _train_mode(model: nn.Layer) -> None:
    """As training runs the model (frozen BatchNorm), without dropout: the function itself is compared."""
    set_train_mode(model, freeze_norm=True)
    for layer in model.sublayers():
        if isinstance(layer, nn.Dropout):
            layer.eval()


@pytest.fixture(scope="module", params=DET_MODELS)
def det(request):
    return _loaded("det", request.param)


@pytest.fixture(scope="module", params=REC_MODELS)
def rec(request):
    return _loaded("rec", request.param)


@pytest.fixture(scope="module")
def det_images(demo_dir):
    images = [read_image(demo_dir / "images" / n) for n in ("img_1.jpg", "img_7.jpg")]
    return [(normalize_det(resize_det(img, 960, "max")[0])[None], img.shape[:2]) for img in images]


@pytest.fixture(scope="module")
def word_crops(demo_dir):
    root = demo_dir.parent / "icdar2015_rec_demo"
    lines = (root / "val.txt").read_text(encoding="utf-8").splitlines()
    return np.stack([resize_norm_rec(cv2.imread(str(root / ln.split("\t")[0])), 48, 320) for ln in lines])


def test_every_weight_joins_by_graph_order_and_is_checked_against_the_graph(det, rec):
    for _, report, _, _, name in (det, rec):
        expected = DET_MODELS[name] if name in DET_MODELS else REC_MODELS[name][0]
        assert len(report.matched) == expected and report.matched_fraction == 1.0
        assert not report.missing and not report.unexpected and not report.shape_mismatched
        assert report.graph_check.startswith("checked against the source graph")


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_detector_equals_onnx_runtime_on_real_images(det, det_images, mode):
    model, _, onnx_run, cfg, _ = det
    post = DBPostProcess(**{k: v for k, v in to_plain(cfg.det.postprocess).items() if k != "name"})
    if mode == "train":
        _train_mode(model)
    try:
        for x, size in det_images:
            out = model(paddle.to_tensor(x))
            ours = (out["maps"][:, :1] if mode == "train" else out).numpy()
            reference = onnx_run(x)
            assert ours.shape == reference.shape
            assert np.abs(ours - reference).max() <= TOLERANCE[mode]
            our_boxes, reference_boxes = (
                db_boxes(ours[0, 0], size, post),
                db_boxes(reference[0, 0], size, post),
            )
            assert len(reference_boxes[0]) >= 5  # real text found
            np.testing.assert_array_equal(our_boxes[0], reference_boxes[0])
    finally:
        model.eval()


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_recogniser_equals_onnx_runtime_on_real_word_crops(rec, word_crops, mode):
    model, _, onnx_run, cfg, _ = rec
    characters = list(CharDict.pretrained(cfg.rec.dictionary).characters)
    if mode == "train":
        _train_mode(model)
    try:
        for start in range(0, len(word_crops), 16):
            x = word_crops[start : start + 16]
            out = model(paddle.to_tensor(x))
            ours = (
                paddle.nn.functional.softmax(out["ctc"], axis=2).numpy() if mode == "train" else out.numpy()
            )
            reference = onnx_run(x)
            assert ours.shape == reference.shape
            assert np.abs(ours - reference).max() <= TOLERANCE[mode]
            texts = [t for t, _ in ctc_greedy_decode(ours, characters)]
            assert texts == [t for t, _ in ctc_greedy_decode(reference, characters)]
    finally:
        model.eval()


def test_the_recogniser_speaks_its_own_dictionary(rec):
    _, _, _, cfg, name = rec
    assert CharDict.pretrained(name).num_classes == REC_MODELS[name][1]
    assert RecTask(cfg.rec, cfg.data).char_dict == CharDict.pretrained(name)
    assert read_weights(name).characters == list(CharDict.pretrained(name).characters)


def test_a_graph_of_another_architecture_is_refused():
    model = build_model(to_plain(_config("det", "PP-OCRv5_mobile_det").det.arch))
    with pytest.raises(WeightsError, match="architecture differs from the graph's"):
        load_pretrained(model, zoo.zoo_onnx_file("PP-OCRv5_mobile_rec"))


def test_a_damaged_onnx_file_is_named(tmp_path):
    damaged = tmp_path / "det.onnx"
    damaged.write_bytes(zoo.zoo_onnx_file("PP-OCRv5_mobile_det").read_bytes()[:5000])
    with pytest.raises(WeightsError, match=f"{damaged}: damaged or not an ONNX model"):
        read_weights(str(damaged))


def test_onnx_zoo_models_are_not_paddle_inference_programs():
    with pytest.raises(zoo.ModelNotAvailableError, match="ships as an ONNX graph"):
        zoo.zoo_model_dir("PP-OCRv5_mobile_det")


def test_another_dictionary_keeps_the_shared_characters_columns():
    """Dictionary surgery on a v6 classifier (``fc2`` behind 80 mid channels): shared characters keep their column."""
    cfg = _config("rec", "PP-OCRv6_tiny_rec")
    source = list(CharDict.pretrained("PP-OCRv6_tiny_rec").characters)
    mine = [*"0123456789abcdefghijklmnopqrstuvwxyz", "\u2603"]  # a snowman is not in the shipped dictionary
    model = build_model(to_plain(cfg.rec.arch), num_classes=len(mine) + 1)
    report = load_pretrained(model, "PP-OCRv6_tiny_rec", characters=mine)
    report.raise_if_poor()
    assert "re-mapped to the new dictionary: 36 shared characters kept, 1 new ones fresh" in report.summary()
    assert report.graph_check.startswith("not checked against the source graph")
    shipped = read_weights("PP-OCRv6_tiny_rec")
    classifier = shipped.tensors[list(shipped.tensors)[-2]]  # fc2.weight, the graph's last matrix
    ours = model.state_dict()["head.ctc_head.fc2.weight"].numpy()
    np.testing.assert_array_equal(ours[:, 1 + mine.index("a")], classifier[:, 1 + source.index("a")])
    assert not ours[:, -1].any()  # the snowman starts fresh
