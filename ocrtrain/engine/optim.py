"""Optimizer and learning-rate schedule: Adam with L2 decay, cosine decay after a linear warm-up."""

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
    POSITIVE_NUMBER_OR_NULL,
    Rule,
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

    def __init__(self, learning_rate: float, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0):
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


def build_optimizer(
    model: paddle.nn.Layer, cfg: dict[str, Any], total_batch_size: int, total_steps: int
) -> tuple[paddle.optimizer.Optimizer, WarmupCosine]:
    """Adam(beta1, beta2) with L2 weight decay and the warm-up cosine schedule, from the ``optimizer`` config node."""
    lr = (
        scaled_lr(cfg["lr"], total_batch_size, cfg.get("reference_batch_size", 64))
        if cfg.get("scale_lr")
        else cfg["lr"]
    )
    scheduler = WarmupCosine(lr, total_steps, cfg.get("warmup_steps", 0), cfg.get("min_lr", 0.0))
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
