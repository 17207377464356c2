"""Optimizer and learning-rate schedule: Adam with L2 decay, cosine decay after a linear warm-up, and optional
learning-rate multipliers per part of the model (``optimizer.lr_scale``)."""

from __future__ import annotations

import math
from typing import Any

import paddle

from ocrtrain.config_schema import (
    BOOLEAN,
    FRACTION_BELOW_ONE,
    NON_NEGATIVE_INT,
    NON_NEGATIVE_NUMBER,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    POSITIVE_NUMBER_OR_NULL,
    Rule,
    rule,
)
from ocrtrain.engine.freeze import check_module_paths, is_under

# `optimizer.lr_scale`: module path -> multiplier of the scheduled lr (0 is not a rate: use trainer.freeze)
LR_SCALES = rule(
    "a mapping of module path to a multiplier > 0, such as {backbone: 0.25}",
    lambda v: (
        isinstance(v, dict)
        and all(isinstance(k, str) and k.strip() and POSITIVE_NUMBER(x) for k, x in v.items())
    ),
    nullable=True,
)

# what the keys of a model config's ``optimizer`` node must be (checked at start-up)
OPTIMIZER_RULES: dict[str, Rule] = {
    "lr": NON_NEGATIVE_NUMBER,
    "scale_lr": BOOLEAN,
    "reference_batch_size": POSITIVE_INT,
    "beta1": FRACTION_BELOW_ONE,
    "beta2": FRACTION_BELOW_ONE,
    "l2_decay": NON_NEGATIVE_NUMBER,
    "warmup_steps": NON_NEGATIVE_INT,
    "min_lr": NON_NEGATIVE_NUMBER,
    "grad_clip_norm": POSITIVE_NUMBER_OR_NULL,
    "lr_scale": LR_SCALES,
}


def scaled_lr(base_lr: float, total_batch_size: int, reference_batch_size: int = 64) -> float:
    """Linear scaling rule: PaddleOCR's learning rates are tuned for a total batch of ``reference_batch_size``."""
    return base_lr * total_batch_size / reference_batch_size


class WarmupCosine(paddle.optimizer.lr.LRScheduler):
    """Linear warm-up over ``warmup_steps`` (``lr / warmup_steps`` at the first step), then cosine decay to ``min_lr``
    at ``total_steps``.

    Not paddle's ``LinearWarmup(CosineAnnealingDecay)``: that one gives lr 0 to the first step (a step that trains
    nothing) and keeps its cosine in a nested scheduler state; after the warm-up the two are equal (tested).
    """

    def __init__(
        self, learning_rate: float, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0
    ) -> None:
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.min_lr = min_lr
        super().__init__(learning_rate)

    def get_lr(self) -> float:
        step = self.last_epoch  # paddle counts scheduler steps in last_epoch
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        progress = min((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 1.0)
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def apply_lr_scales(model: paddle.nn.Layer, scales: dict[str, float]) -> None:
    """Give each parameter under a module path of ``scales`` that multiplier of the scheduled lr (the most specific
    path wins, so ``{backbone: 0.1, backbone.stages.3: 0.5}`` works); every other parameter keeps 1.

    Paddle's Adam multiplies the global lr by a parameter's ``optimize_attr['learning_rate']`` (what a ParamAttr's
    ``learning_rate`` sets), so the schedule, the checkpointed state and data parallel are as without scales.
    """
    check_module_paths(model, scales, "optimizer.lr_scale")
    by_length = sorted(scales, key=len, reverse=True)
    for name, param in model.named_parameters():
        prefix = next((p for p in by_length if is_under(name, p)), None)
        param.optimize_attr["learning_rate"] = float(scales[prefix]) if prefix else 1.0


def build_optimizer(
    model: paddle.nn.Layer, cfg: dict[str, Any], total_batch_size: int, total_steps: int
) -> tuple[paddle.optimizer.Optimizer, WarmupCosine]:
    """Adam(beta1, beta2) with L2 weight decay, the warm-up cosine schedule and the per-part lr multipliers, from
    the ``optimizer`` config node."""
    lr = (
        scaled_lr(cfg["lr"], total_batch_size, cfg.get("reference_batch_size", 64))
        if cfg.get("scale_lr")
        else cfg["lr"]
    )
    scheduler = WarmupCosine(lr, total_steps, cfg.get("warmup_steps", 0), cfg.get("min_lr", 0.0))
    apply_lr_scales(model, cfg.get("lr_scale") or {})
    clip = paddle.nn.ClipGradByGlobalNorm(cfg["grad_clip_norm"]) if cfg.get("grad_clip_norm") else None
    optimizer = paddle.optimizer.Adam(
        learning_rate=scheduler,
        beta1=cfg.get("beta1", 0.9),
        beta2=cfg.get("beta2", 0.999),
        parameters=[p for p in model.parameters() if not p.stop_gradient],
        weight_decay=paddle.regularizer.L2Decay(cfg.get("l2_decay", 0.0)),
        grad_clip=clip,
    )
    # Paddle creates a parameter's moments at its first gradient and, when a checkpoint is loaded, asserts that
    # every moment it creates later is in that checkpoint. Creating them all now (zeros, as paddle would) keeps a
    # part frozen at the start (ocrtrain.engine.freeze) in every checkpoint, so unfreezing it after a resume works.
    optimizer._create_accumulators(
        paddle.static.default_main_program().global_block(), optimizer._parameter_list
    )
    return optimizer, scheduler
