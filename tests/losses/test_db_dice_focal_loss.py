"""PP-OCRv6's det loss (dice + focal, masked L1, auxiliary levels): its value against an independent numpy
computation and its gradients (the v6 det models train with it from their shipped weights:
tests/models/test_v6_training.py)."""

from __future__ import annotations

import math

import numpy as np
import paddle
import pytest
from conftest import REPO

from ocrtrain.config import compose
from ocrtrain.engine.trainer import set_train_mode
from ocrtrain.losses.db_dice_focal_loss import DBDiceFocalLoss
from ocrtrain.tasks import build_task

EPS = 1e-6
SHRINK_MAP = np.array([[[1, 1, 0], [1, 0, 0]]], dtype=np.float32)
SHRINK_MASK = np.array([[[1, 1, 1], [1, 1, 0]]], dtype=np.float32)
THRESHOLD_MAP = np.array([[[0.3, 0.5, 0.7], [0.3, 0.6, 0.3]]], dtype=np.float32)
THRESHOLD_MASK = np.array([[[1, 0, 1], [1, 1, 1]]], dtype=np.float32)


def _batch() -> dict[str, paddle.Tensor]:
    return {
        "shrink_map": paddle.to_tensor(SHRINK_MAP),
        "shrink_mask": paddle.to_tensor(SHRINK_MASK),
        "threshold_map": paddle.to_tensor(THRESHOLD_MAP),
        "threshold_mask": paddle.to_tensor(THRESHOLD_MASK),
    }


def _maps(seed: int) -> np.ndarray:
    """1 x 3 x 2 x 3 maps in (0, 1): probability, threshold, binary."""
    return np.random.default_rng(seed).uniform(0.05, 0.95, (1, 3, 2, 3)).astype(np.float32)


def _numpy_maps_loss(maps: np.ndarray, alpha=5.0, beta=10.0, focal_alpha=0.25, gamma=2.5) -> list[float]:
    """The three weighted terms, pixel by pixel: focal = mean over masked pixels of -a_t (1 - p_t)^gamma log p_t."""
    gt, mask = SHRINK_MAP[0], SHRINK_MASK[0]

    def dice_focal(pred):
        dice = 1 - 2 * (pred * gt * mask).sum() / ((pred * mask).sum() + (gt * mask).sum() + EPS)
        focal = []
        for p, g, m in zip(pred.ravel(), gt.ravel(), mask.ravel(), strict=True):
            if m:
                p_t, a_t = (p, focal_alpha) if g == 1 else (1 - p, 1 - focal_alpha)
                focal.append(-a_t * (1 - p_t) ** gamma * math.log(p_t))
        return dice + sum(focal) / len(focal)

    l1 = (np.abs(maps[0, 1] - THRESHOLD_MAP[0]) * THRESHOLD_MASK[0]).sum() / THRESHOLD_MASK[0].sum()
    return [alpha * dice_focal(maps[0, 0]), beta * l1, dice_focal(maps[0, 2])]


def test_the_loss_equals_its_definition_on_a_hand_checkable_case():
    main, p4, p2 = _maps(0), _maps(1), _maps(2)
    predictions = {
        k: paddle.to_tensor(v) for k, v in {"maps": main, "aux_maps_p4": p4, "aux_maps_p2": p2}.items()
    }
    losses = DBDiceFocalLoss()(predictions, _batch())

    shrink, threshold, binary = _numpy_maps_loss(main)
    aux_p4, aux_p2 = sum(_numpy_maps_loss(p4)), sum(_numpy_maps_loss(p2))
    assert float(losses["loss_shrink_maps"]) == pytest.approx(shrink, rel=1e-5)
    assert float(losses["loss_threshold_maps"]) == pytest.approx(threshold, rel=1e-5)
    assert float(losses["loss_binary_maps"]) == pytest.approx(binary, rel=1e-5)
    assert float(losses["loss_aux_p4"]) == pytest.approx(aux_p4, rel=1e-5)
    assert float(losses["loss_aux_p2"]) == pytest.approx(aux_p2, rel=1e-5)
    assert "loss_aux_p3" not in losses  # a level the head did not predict
    # PaddleOCR's level weights: p4 0.2, p2 0.4
    expected = shrink + threshold + binary + 0.2 * aux_p4 + 0.4 * aux_p2
    assert float(losses["loss"]) == pytest.approx(expected, rel=1e-5)


def test_gradients_reach_every_map_and_level():
    logits = {
        k: paddle.to_tensor(np.log(m / (1 - m)), stop_gradient=False)
        for k, m in {"maps": _maps(3), "aux_maps_p3": _maps(4)}.items()
    }
    losses = DBDiceFocalLoss()({k: paddle.nn.functional.sigmoid(v) for k, v in logits.items()}, _batch())
    losses["loss"].backward()
    for name, logit in logits.items():
        grad = logit.grad.numpy()
        assert np.isfinite(grad).all()
        for channel in range(3):  # probability, threshold, binary
            assert np.abs(grad[0, channel]).max() > 0, (name, channel)
        # pixels outside both masks get no gradient
        assert grad[0, 0, 1, 2] == 0 and grad[0, 2, 1, 2] == 0


def test_a_perfect_prediction_costs_nothing_and_a_zero_weight_drops_a_level():
    perfect = np.stack([SHRINK_MAP[0], THRESHOLD_MAP[0], SHRINK_MAP[0]])[None]
    predictions = {"maps": paddle.to_tensor(perfect), "aux_maps_p4": paddle.to_tensor(_maps(5))}
    losses = DBDiceFocalLoss(aux_weights={"p4": 0.0, "p3": 0.3, "p2": 0.4})(predictions, _batch())
    assert float(losses["loss"]) < 1e-5
    assert set(losses) == {"loss", "loss_shrink_maps", "loss_threshold_maps", "loss_binary_maps"}
    # while a wrong prediction costs
    assert float(DBDiceFocalLoss()({"maps": paddle.to_tensor(1 - perfect)}, _batch())["loss"]) > 1


def test_the_v6_auxiliary_branches_learn_from_normalised_levels_under_frozen_norm(monkeypatch):
    """The v6 head's training-only branches (fresh: no shipped weights hold them) normalise the neck's levels by the
    batch even with the pretrained BatchNorms frozen (the default), so their maps start unsaturated, and the loss's
    gradient reaches them and the neck; eval mode returns the probability map alone."""
    pytest.importorskip("onnxruntime")  # the zoo's v6 weights ship as ONNX
    monkeypatch.chdir(REPO)  # the demo data config is relative to the repository
    task = build_task(
        compose(
            "train", ["det=PP-OCRv6_tiny_det", "data=icdar2015_demo", "det.train_transform.crop_size=320"]
        )
    )
    model = task.build_model()
    task.load_pretrained(model)
    np.random.seed(0)
    batch = task.collate([task.train_dataset()[i] for i in range(2)])
    set_train_mode(model, freeze_norm=True)
    out = model(paddle.to_tensor(batch["image"]))
    assert set(out) == {"maps", "aux_maps_p4", "aux_maps_p3", "aux_maps_p2"}
    for level in ("p4", "p3", "p2"):
        probability = out[f"aux_maps_{level}"][:, 0].numpy()
        assert ((probability < 1e-3) | (probability > 1 - 1e-3)).mean() < 0.1, level  # frozen at init: 61%
    task.loss(model, batch)["loss"].backward()
    for name in (
        "head.aux_binarize.p4.conv1.weight",
        "head.aux_thresh.p2.conv3.weight",
        "neck.ins_conv.2.in_conv.weight",
    ):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and float(grad.abs().max()) > 0, name
    model.eval()
    assert list(model(paddle.to_tensor(batch["image"][:1])).shape) == [1, 1, 320, 320]
