"""The PP-OCRv4/v5 det loss (DBLoss): each probability-map objective (balanced BCE, dice, their sum) against an
independent numpy computation, the config's choice reaching the trainer, and a clear error for an unknown objective."""

from __future__ import annotations

import math

import numpy as np
import paddle
import pytest

from ocrtrain import components
from ocrtrain.config import compose, to_plain
from ocrtrain.losses.db_loss import DBLoss

EPS = 1e-6
# 2 x 4 pixels: 3 positives, 4 negatives inside the mask, 1 pixel outside it
SHRINK_MAP = np.array([[[1, 1, 0, 0], [1, 0, 0, 0]]], dtype=np.float32)
SHRINK_MASK = np.array([[[1, 1, 1, 1], [1, 1, 1, 0]]], dtype=np.float32)
THRESHOLD_MAP = np.array([[[0.3, 0.5, 0.7, 0.4], [0.3, 0.6, 0.3, 0.5]]], dtype=np.float32)
THRESHOLD_MASK = np.array([[[1, 0, 1, 1], [1, 1, 1, 0]]], dtype=np.float32)
# probability map: the negatives' losses differ so that OHEM's choice matters
PROBABILITY = np.array([[0.9, 0.6, 0.8, 0.1], [0.7, 0.4, 0.2, 0.95]], dtype=np.float32)


def _batch() -> dict[str, paddle.Tensor]:
    return {
        "shrink_map": paddle.to_tensor(SHRINK_MAP),
        "shrink_mask": paddle.to_tensor(SHRINK_MASK),
        "threshold_map": paddle.to_tensor(THRESHOLD_MAP),
        "threshold_mask": paddle.to_tensor(THRESHOLD_MASK),
    }


def _maps() -> np.ndarray:
    threshold = np.full((2, 4), 0.45, dtype=np.float32)
    binary = np.array([[0.8, 0.3, 0.4, 0.2], [0.6, 0.1, 0.5, 0.9]], dtype=np.float32)
    return np.stack([PROBABILITY, threshold, binary])[None]


def _numpy_dice(pred: np.ndarray) -> float:
    gt, mask = SHRINK_MAP[0], SHRINK_MASK[0]
    return 1 - 2 * (pred * gt * mask).sum() / ((pred * mask).sum() + (gt * mask).sum() + EPS)


def _numpy_balanced_bce(pred: np.ndarray, ohem_ratio: float) -> float:
    """Every positive pixel's BCE, plus the ohem_ratio x n_pos largest negative ones."""
    gt, mask = SHRINK_MAP[0], SHRINK_MASK[0]
    bce = [-math.log(p) if g else -math.log(1 - p) for p, g in zip(pred.ravel(), gt.ravel(), strict=True)]
    flags = list(zip(gt.ravel(), mask.ravel(), strict=True))
    positives = [b for b, (g, m) in zip(bce, flags, strict=True) if m and g]
    negatives = sorted((b for b, (g, m) in zip(bce, flags, strict=True) if m and not g), reverse=True)
    hardest = negatives[: min(len(negatives), int(len(positives) * ohem_ratio))]
    return (sum(positives) + sum(hardest)) / (len(positives) + len(hardest))


def _numpy_terms(maps: np.ndarray, probability_loss: str, ohem_ratio: float = 3.0) -> list[float]:
    bce, dice = _numpy_balanced_bce(maps[0, 0], ohem_ratio), _numpy_dice(maps[0, 0])
    shrink = {"dice": dice, "balanced_bce": bce, "balanced_bce_dice": bce + dice}[probability_loss]
    l1 = (np.abs(maps[0, 1] - THRESHOLD_MAP[0]) * THRESHOLD_MASK[0]).sum() / THRESHOLD_MASK[0].sum()
    return [5.0 * shrink, 10.0 * l1, _numpy_dice(maps[0, 2])]


@pytest.mark.parametrize(
    ("probability_loss", "ohem_ratio"),
    [("dice", 3.0), ("balanced_bce", 3.0), ("balanced_bce", 1.0), ("balanced_bce_dice", 3.0)],
)
def test_the_loss_equals_its_definition(probability_loss, ohem_ratio):
    maps = _maps()
    losses = DBLoss(probability_loss=probability_loss, ohem_ratio=ohem_ratio)(
        {"maps": paddle.to_tensor(maps)}, _batch()
    )
    shrink, threshold, binary = _numpy_terms(maps, probability_loss, ohem_ratio)
    assert float(losses["loss_shrink_maps"]) == pytest.approx(shrink, rel=1e-5)
    assert float(losses["loss_threshold_maps"]) == pytest.approx(threshold, rel=1e-5)
    assert float(losses["loss_binary_maps"]) == pytest.approx(binary, rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(shrink + threshold + binary, rel=1e-5)


def test_the_objectives_differ_and_only_masked_pixels_get_gradient():
    shrink = {}
    for probability_loss in ("dice", "balanced_bce", "balanced_bce_dice"):
        logits = paddle.to_tensor(np.log(_maps() / (1 - _maps())), stop_gradient=False)
        losses = DBLoss(probability_loss=probability_loss)(
            {"maps": paddle.nn.functional.sigmoid(logits)}, _batch()
        )
        losses["loss"].backward()
        grad = logits.grad.numpy()[0, 0]
        assert np.abs(grad[SHRINK_MASK[0] == 1]).min() > 0 and grad[1, 3] == 0, probability_loss
        shrink[probability_loss] = float(losses["loss_shrink_maps"])
    assert abs(shrink["dice"] - shrink["balanced_bce"]) > 0.1
    assert shrink["balanced_bce_dice"] == pytest.approx(shrink["dice"] + shrink["balanced_bce"], rel=1e-5)


@pytest.mark.parametrize("det", ["PP-OCRv4_mobile_det", "PP-OCRv5_mobile_det"])
def test_the_objective_is_chosen_in_the_model_config_and_a_typo_is_refused(det):
    def built(*overrides: str) -> DBLoss:
        return components.build("loss", to_plain(compose("train", [f"det={det}", *overrides]).det.loss))

    assert built().probability_loss == "balanced_bce"  # measured better for fine-tuning (module docstring)
    assert built("det.loss.probability_loss=dice").probability_loss == "dice"
    assert built("det.loss.probability_loss=balanced_bce_dice").probability_loss == "balanced_bce_dice"
    with pytest.raises(
        ValueError, match="probability_loss=.bce.: expected one of balanced_bce, dice, balanced_bce_dice"
    ):
        built("det.loss.probability_loss=bce")
