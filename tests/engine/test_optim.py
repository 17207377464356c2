"""The optimizer and its warm-up cosine schedule: the values, why it is not paddle's, and that it resumes exactly."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from ocrtrain.engine.checkpoint import load_checkpoint, save_checkpoint
from ocrtrain.engine.optim import WarmupCosine, build_optimizer, scaled_lr


def schedule(scheduler, steps: int) -> list[float]:
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.get_lr())
        scheduler.step()
    return lrs


def test_warmup_then_cosine():
    lrs = schedule(WarmupCosine(1e-3, total_steps=100, warmup_steps=10), 100)
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[55] == pytest.approx(0.5e-3, rel=1e-6) and lrs[-1] < 1e-6
    assert scaled_lr(1e-3, 8) == pytest.approx(1.25e-4)


def test_paddles_linear_warmup_cosine_wastes_the_first_step_otherwise_the_same():
    """Why ours stays: paddle's LinearWarmup starts at lr 0, so the first optimizer step does nothing."""
    ours = schedule(WarmupCosine(1e-3, total_steps=100, warmup_steps=10), 100)
    cosine = paddle.optimizer.lr.CosineAnnealingDecay(1e-3, T_max=90)
    paddles = schedule(
        paddle.optimizer.lr.LinearWarmup(cosine, warmup_steps=10, start_lr=0.0, end_lr=1e-3), 100
    )
    assert paddles[0] == 0.0 and ours[0] == pytest.approx(1e-4)
    assert paddles[1:11] == pytest.approx(ours[:10])  # the same warm-up, one step late
    assert paddles[10:] == pytest.approx(ours[10:], rel=1e-9)  # the same cosine


def _model_and_optimizer(total_steps=20):
    paddle.seed(0)
    model = paddle.nn.Sequential(paddle.nn.Linear(4, 8), paddle.nn.ReLU(), paddle.nn.Linear(8, 1))
    cfg = {"lr": 1e-2, "warmup_steps": 2, "l2_decay": 1e-4, "grad_clip_norm": 1.0}
    optimizer, scheduler = build_optimizer(model, cfg, total_batch_size=8, total_steps=total_steps)
    return model, optimizer, scheduler


def _train(model, optimizer, scheduler, steps):
    losses = []
    for _ in range(steps):
        x = paddle.to_tensor(np.random.rand(8, 4).astype("float32"))
        loss = (model(x) - x.sum(axis=1, keepdim=True)).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        scheduler.step()
        losses.append(float(loss))
    return losses


def test_the_schedule_and_moments_survive_a_checkpoint(tmp_path):
    np.random.seed(0)
    model, optimizer, scheduler = _model_and_optimizer()
    _train(model, optimizer, scheduler, 5)
    save_checkpoint(tmp_path / "latest", model, optimizer, {"global_step": 5})
    lr_at_save = optimizer.get_lr()
    straight = _train(model, optimizer, scheduler, 5)

    model2, optimizer2, scheduler2 = _model_and_optimizer()
    assert optimizer2.get_lr() != pytest.approx(lr_at_save)
    load_checkpoint(tmp_path / "latest", model2, optimizer2)
    assert optimizer2.get_lr() == pytest.approx(lr_at_save)
    resumed = _train(model2, optimizer2, scheduler2, 5)
    assert resumed == pytest.approx(straight, rel=1e-6)  # same weights, moments, lr and random numbers
