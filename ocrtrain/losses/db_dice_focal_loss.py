"""PP-OCRv6's DB loss: dice + focal on the probability and binary maps (no OHEM), masked L1 on the threshold map,
plus the same loss on each auxiliary level's maps (deep supervision).

maps loss = alpha * dice_focal(probability) + beta * l1(threshold) + dice_focal(binary)
dice_focal = dice_weight * dice + focal_weight * focal, both over the shrink mask's pixels
loss = maps loss(main) + sum over levels of aux_weight[level] * maps loss(aux level)

PaddleOCR's coefficients for v6 small and tiny: alpha 5, beta 10, focal alpha 0.25, gamma 2.5, dice and focal
weight 1, auxiliary weights p4 0.2, p3 0.3, p2 0.4.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F

from ocrtrain.components import register
from ocrtrain.losses.db_loss import dice, masked_l1


def masked_focal(
    pred: paddle.Tensor, gt: paddle.Tensor, mask: paddle.Tensor, alpha: float, gamma: float, eps: float
) -> paddle.Tensor:
    """Binary focal loss ``alpha_t (1 - p_t)^gamma BCE`` averaged over the masked pixels; ``alpha`` weighs the
    positives (text), ``1 - alpha`` the negatives. ``pred`` is a probability, clipped to [eps, 1 - eps]."""
    pred = pred.clip(eps, 1 - eps)
    p_t = pred * gt + (1 - pred) * (1 - gt)
    alpha_t = alpha * gt + (1 - alpha) * (1 - gt)
    pixel_loss = alpha_t * (1 - p_t) ** gamma * F.binary_cross_entropy(pred, gt, reduction="none")
    return (pixel_loss * mask).sum() / (mask.sum() + eps)


@register("loss", "DBDiceFocalLoss")
class DBDiceFocalLoss(paddle.nn.Layer):
    def __init__(
        self,
        alpha: float = 5.0,
        beta: float = 10.0,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.5,
        dice_weight: float = 1.0,
        focal_weight: float = 1.0,
        aux_weights: dict[str, float] | None = None,
        eps: float = 1e-6,
    ) -> None:
        """``aux_weights``: level (``p4``, ``p3``, ``p2``) -> weight of that level's maps loss, for the head's
        ``aux_maps_<level>`` outputs (none: PaddleOCR's 0.2 / 0.3 / 0.4)."""
        super().__init__()
        self.alpha, self.beta, self.eps = alpha, beta, eps
        self.focal_alpha, self.focal_gamma = focal_alpha, focal_gamma
        self.dice_weight, self.focal_weight = dice_weight, focal_weight
        self.aux_weights = dict(aux_weights) if aux_weights is not None else {"p4": 0.2, "p3": 0.3, "p2": 0.4}

    def dice_focal(self, pred: paddle.Tensor, gt: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
        focal = masked_focal(pred, gt, mask, self.focal_alpha, self.focal_gamma, self.eps)
        return self.dice_weight * dice(pred, gt, mask, self.eps) + self.focal_weight * focal

    def maps_losses(
        self, maps: paddle.Tensor, batch: dict[str, paddle.Tensor]
    ) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
        """The weighted shrink, threshold and binary terms for N x 3 x H x W maps (probability, threshold, binary)."""
        shrink_map, shrink_mask = batch["shrink_map"], batch["shrink_mask"]
        return (
            self.alpha * self.dice_focal(maps[:, 0], shrink_map, shrink_mask),
            self.beta * masked_l1(maps[:, 1], batch["threshold_map"], batch["threshold_mask"], self.eps),
            self.dice_focal(maps[:, 2], shrink_map, shrink_mask),
        )

    def forward(
        self, predictions: dict[str, paddle.Tensor], batch: dict[str, paddle.Tensor]
    ) -> dict[str, paddle.Tensor]:
        """``predictions``: the DB head's train-mode output, ``"maps"`` and (with auxiliary branches)
        ``"aux_maps_<level>"``. Returns the total, the main maps' three terms and each level's (unweighted) loss."""
        shrink, threshold, binary = self.maps_losses(predictions["maps"], batch)
        losses = {
            "loss": shrink + threshold + binary,
            "loss_shrink_maps": shrink,
            "loss_threshold_maps": threshold,
            "loss_binary_maps": binary,
        }
        for level, weight in self.aux_weights.items():
            aux_maps = predictions.get(f"aux_maps_{level}")
            if aux_maps is None or weight == 0:
                continue
            aux_loss = sum(self.maps_losses(aux_maps, batch))
            losses[f"loss_aux_{level}"] = aux_loss
            losses["loss"] = losses["loss"] + weight * aux_loss
        return losses
