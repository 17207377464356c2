"""The optimizer and its warm-up cosine schedule: the values, why it is not paddle's, that it resumes exactly, and
the per-part lr multipliers (optimizer.lr_scale) on the real PP-OCRv4 rec model."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
from conftest import REPO
from omegaconf import OmegaConf

from ocrtrain.config import compose
from ocrtrain.config_schema import ConfigError, check_rules
from ocrtrain.engine.checkpoint import load_checkpoint, save_checkpoint
from ocrtrain.engine.optim import OPTIMIZER_RULES, WarmupCosine, build_optimizer, scaled_lr
from ocrtrain.engine.trainer import set_train_mode
from ocrtrain.tasks import build_task


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


def _one_step_deltas(task, batch, start: dict, lr_scale: dict) -> dict[str, np.ndarray]:
    """How far one Adam step moves each parameter of the real model from ``start``, on ``batch``."""
    model = task.build_model()
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in start.items()})
    set_train_mode(model, freeze_norm=True)  # no BatchNorm statistics update
    paddle.seed(0)  # the same dropout in both runs: the same gradients
    cfg = {"lr": 1e-3, "warmup_steps": 0, "lr_scale": lr_scale}
    optimizer, _ = build_optimizer(model, cfg, total_batch_size=2, total_steps=10)
    task.loss(model, batch)["loss"].backward()
    optimizer.step()
    return {n: p.numpy() - start[n] for n, p in model.named_parameters()}


def test_lr_scale_moves_each_named_part_by_its_multiplier_and_the_rest_as_before(monkeypatch):
    monkeypatch.chdir(REPO)
    task = build_task(compose("train", ["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"]))
    model = task.build_model()
    task.load_pretrained(model)
    start = {k: v.numpy() for k, v in model.state_dict().items()}
    batch = task.collate([task.train_dataset()[i] for i in range(2)])

    plain = _one_step_deltas(task, batch, start, {})
    scaled = _one_step_deltas(
        task, batch, start, {"backbone": 0.25, "backbone.conv1": 0.5, "head.ctc_head": 2.0}
    )
    expected = {
        "backbone.conv1.": 0.5,
        "backbone.": 0.25,
        "head.ctc_head.": 2.0,
        "": 1.0,
    }  # most specific first
    moved = 0
    for name, delta in plain.items():
        factor = next(f for prefix, f in expected.items() if name.startswith(prefix))
        np.testing.assert_allclose(
            scaled[name], factor * delta, rtol=1e-3, atol=1e-6, err_msg=name
        )  # float32 rounding of p - p0
        moved += bool(np.abs(delta).max() > 0)
    assert moved > len(plain) // 2  # the step really moved the parameters it compares


def test_lr_scale_checks_its_paths_and_values(monkeypatch):
    monkeypatch.chdir(REPO)
    for default in (
        compose("train", ["rec=PP-OCRv4_mobile_rec"]).rec,
        compose("train", ["det=PP-OCRv4_mobile_det"]).det,
    ):
        check_rules(
            OmegaConf.to_container(default.optimizer), OPTIMIZER_RULES, "optimizer"
        )  # null: no scales
    overridden = compose("train", ["rec=PP-OCRv4_mobile_rec", "rec.optimizer.lr_scale={backbone: 0.25}"])
    check_rules(OmegaConf.to_container(overridden.rec.optimizer), OPTIMIZER_RULES, "rec.optimizer")
    assert OmegaConf.to_container(overridden.rec.optimizer.lr_scale) == {"backbone": 0.25}
    model = build_task(compose("train", ["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"])).build_model()
    with pytest.raises(
        ConfigError, match=r"optimizer.lr_scale: 'backbon' names no part of the model; available"
    ):
        build_optimizer(model, {"lr": 1e-3, "lr_scale": {"backbon": 0.1}}, total_batch_size=2, total_steps=10)
    for bad in ({"backbone": 0}, {"backbone": "low"}, ["backbone"]):
        with pytest.raises(ConfigError, match="rec.optimizer.lr_scale: must be a mapping of module path"):
            check_rules({"lr_scale": bad}, OPTIMIZER_RULES, "rec.optimizer")
