"""A checkpoint written by PaddleOCR's own trainer (``best_accuracy.pdparams``) holds each PP-LCNetV3 rep layer as it
trains there: parallel convolution + BatchNorm branches and two learnable affines, where ocrtrain keeps one folded
convolution. Loading such a file as ``pretrained=`` must fold the branches into what they compute."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ocrtrain.config import compose, to_plain
from ocrtrain.data.dictionary import CharDict
from ocrtrain.models.builder import build_model
from ocrtrain.models.layers import FusedRepLayer
from ocrtrain.models.loading import load_pretrained

BRANCHES = 4  # PaddleOCR's conv_kxk_num


def training_form(layer: FusedRepLayer, prefix: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random tensors for one rep layer under PaddleOCR's training names."""
    out_ch, in_per_group, k, _ = layer.reparam_conv.weight.shape
    in_ch = in_per_group * layer.reparam_conv._groups
    stride = layer.reparam_conv._stride

    def norm(name: str, channels: int) -> dict[str, np.ndarray]:
        return {
            f"{name}.weight": rng.uniform(0.5, 1.5, channels),
            f"{name}.bias": rng.normal(0, 0.1, channels),
            f"{name}._mean": rng.normal(0, 0.1, channels),
            f"{name}._variance": rng.uniform(0.5, 2.0, channels),
        }

    tensors = {}
    for i in range(BRANCHES):
        tensors[f"conv_kxk.{i}.conv.weight"] = rng.normal(0, 0.1, (out_ch, in_per_group, k, k))
        tensors.update(norm(f"conv_kxk.{i}.bn", out_ch))
    if k > 1:
        tensors["conv_1x1.conv.weight"] = rng.normal(0, 0.1, (out_ch, in_per_group, 1, 1))
        tensors.update(norm("conv_1x1.bn", out_ch))
    if in_ch == out_ch and list(stride) == [1, 1]:
        tensors.update(norm("identity", out_ch))
    for affine in ("lab", "act.lab"):  # PaddleOCR builds act.lab for stride-2 layers too, and does not use it
        tensors[f"{affine}.scale"], tensors[f"{affine}.bias"] = (
            rng.uniform(0.5, 1.5, 1),
            rng.normal(0, 0.1, 1),
        )
    return {prefix + name: value.astype(np.float32) for name, value in tensors.items()}


def branches_forward(
    t: dict[str, np.ndarray], prefix: str, layer: FusedRepLayer, x: paddle.Tensor
) -> np.ndarray:
    """What PaddleOCR's layer computes in eval mode, from its branches (the oracle)."""
    conv = layer.reparam_conv
    k = conv.weight.shape[-1]

    def bn(y: paddle.Tensor, name: str) -> paddle.Tensor:
        mean, var, w, b = (
            paddle.to_tensor(t[f"{prefix}{name}.{n}"]) for n in ("_mean", "_variance", "weight", "bias")
        )
        return F.batch_norm(y, mean, var, w, b, training=False, epsilon=1e-5)

    def branch_conv(name: str, size: int) -> paddle.Tensor:
        weight = paddle.to_tensor(t[f"{prefix}{name}.conv.weight"])
        y = F.conv2d(x, weight, stride=conv._stride, padding=(size - 1) // 2, groups=conv._groups)
        return bn(y, f"{name}.bn")

    out = sum(branch_conv(f"conv_kxk.{i}", k) for i in range(BRANCHES))
    if f"{prefix}conv_1x1.conv.weight" in t:
        out = out + branch_conv("conv_1x1", 1)
    if f"{prefix}identity.weight" in t:
        out = out + bn(x, "identity")
    out = float(t[f"{prefix}lab.scale"][0]) * out + float(t[f"{prefix}lab.bias"][0])
    if layer.has_activation:
        out = F.hardswish(out) * float(t[f"{prefix}act.lab.scale"][0]) + float(t[f"{prefix}act.lab.bias"][0])
    return out.numpy()


@pytest.mark.parametrize("model", ["det=PP-OCRv4_mobile_det", "rec=PP-OCRv4_mobile_rec"])
def test_a_paddleocr_training_checkpoint_loads_folded(tmp_path, model):
    task = model.split("=")[0]
    cfg = compose("train", [model])
    net = build_model(to_plain(cfg[task].arch), **({"num_classes": 6625} if task == "rec" else {}))
    net.eval()
    rep_layers = {
        f"{name}.": layer for name, layer in net.named_sublayers() if isinstance(layer, FusedRepLayer)
    }
    rng = np.random.default_rng(0)
    theirs = {}
    for name, value in net.state_dict().items():
        if not any(name.startswith(p) for p in rep_layers):
            theirs[name] = rng.normal(0, 0.1, value.shape).astype(np.float32)
    for prefix, layer in rep_layers.items():
        theirs.update(training_form(layer, prefix, rng))
    path = tmp_path / "best_accuracy.pdparams"
    paddle.save({k: paddle.to_tensor(v) for k, v in theirs.items()}, str(path))

    report = load_pretrained(net, path)

    assert report.matched_fraction == 1.0 and not report.unexpected and not report.shape_mismatched
    assert sorted(report.folded) == sorted(p.rstrip(".") for p in rep_layers)
    assert f"{len(rep_layers)} layers folded from PaddleOCR's training branches" in report.summary()
    for prefix, layer in rep_layers.items():
        channels = layer.reparam_conv.weight.shape[1] * layer.reparam_conv._groups
        x = paddle.to_tensor(rng.normal(0, 1, (1, channels, 12, 16)).astype(np.float32))
        with paddle.no_grad():
            ours = layer(x).numpy()
        np.testing.assert_allclose(ours, branches_forward(theirs, prefix, layer, x), rtol=1e-4, atol=1e-4)


def test_a_classifier_of_another_dictionary_is_named_with_the_remedy(tmp_path, caplog):
    """A .pdparams does not say its dictionary: one trained on PaddleOCR's English dictionary (96 classes) loaded
    into the default 6,625-class model cannot keep its classifier, and the log says so and what to pass."""
    cfg = compose("train", ["rec=PP-OCRv4_mobile_rec"])
    characters = list(CharDict.pretrained().characters)
    net = build_model(to_plain(cfg.rec.arch), num_classes=len(characters) + 1)
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    state["head.ctc_head.fc.weight"] = state["head.ctc_head.fc.weight"][:, :96]
    state["head.ctc_head.fc.bias"] = state["head.ctc_head.fc.bias"][:96]
    path = tmp_path / "best_accuracy.pdparams"
    paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, str(path))

    with caplog.at_level("WARNING", logger="ocrtrain"):
        report = load_pretrained(net, path, characters=characters)

    assert [name for name, *_ in report.shape_mismatched] == [
        "head.ctc_head.fc.weight",
        "head.ctc_head.fc.bias",
    ]
    assert "96 classes" in caplog.text and "data.dict=<file>" in caplog.text


def test_a_distillation_checkpoint_loads_its_student(tmp_path):
    """PaddleOCR's distillation configs save Student., Student2. and Teacher. models in one file; the student is
    what PaddleOCR deploys and what fine-tuning starts from."""
    cfg = compose("train", ["det=PP-OCRv4_mobile_det"])
    net = build_model(to_plain(cfg.det.arch))
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    rng = np.random.default_rng(0)
    student = {k: rng.normal(0, 0.1, v.shape).astype(np.float32) for k, v in state.items()}
    saved = {f"Student.{k}": v for k, v in student.items()}
    saved.update({f"Teacher.{k}": np.zeros_like(v) for k, v in student.items()})
    path = tmp_path / "best_accuracy.pdparams"
    paddle.save({k: paddle.to_tensor(v) for k, v in saved.items()}, str(path))

    report = load_pretrained(net, path)

    assert report.matched_fraction == 1.0 and not report.unexpected
    assert "(its Student model; also in the file: Teacher)" in report.summary()
    loaded = net.state_dict()
    assert all(np.array_equal(loaded[k].numpy(), v) for k, v in student.items())
