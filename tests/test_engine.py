"""Engine mechanics: the warm-up cosine schedule, atomic checkpoints."""

from __future__ import annotations

import random

import numpy as np
import paddle
import pytest

from ocrtrain.engine.checkpoint import find_checkpoint, load_checkpoint, read_state, save_checkpoint
from ocrtrain.engine.optim import WarmupCosine, build_optimizer, scaled_lr


def test_warmup_then_cosine():
    sched = WarmupCosine(1e-3, total_steps=100, warmup_steps=10)
    lrs = []
    for _ in range(100):
        lrs.append(sched.get_lr())
        sched.step()
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[55] == pytest.approx(0.5e-3, rel=1e-6) and lrs[-1] < 1e-6
    assert scaled_lr(1e-3, 8) == pytest.approx(1.25e-4)


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


def test_checkpoint_round_trip_reproduces_the_rest_of_the_run(tmp_path):
    np.random.seed(0)
    model, optimizer, scheduler = _model_and_optimizer()
    _train(model, optimizer, scheduler, 5)
    save_checkpoint(tmp_path / "latest", model, optimizer, {"global_step": 5}, {"dict.txt": "a\nb\n"})
    lr_at_save = optimizer.get_lr()
    straight = _train(model, optimizer, scheduler, 5)

    model2, optimizer2, scheduler2 = _model_and_optimizer()
    state = load_checkpoint(tmp_path / "latest", model2, optimizer2)
    assert state == {"global_step": 5} and (tmp_path / "latest" / "dict.txt").read_text() == "a\nb\n"
    assert optimizer2.get_lr() == pytest.approx(lr_at_save)  # the schedule is restored
    resumed = _train(model2, optimizer2, scheduler2, 5)
    assert resumed == pytest.approx(straight, rel=1e-6)  # same weights, moments, lr and random numbers


def test_checkpoint_swap_is_atomic(tmp_path):
    model, optimizer, _ = _model_and_optimizer()
    target = tmp_path / "checkpoints" / "latest"
    save_checkpoint(target, model, optimizer, {"global_step": 1})
    save_checkpoint(target, model, optimizer, {"global_step": 2})
    assert read_state(find_checkpoint(tmp_path)) == {"global_step": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["latest"]  # no temporary leftovers
    # a kill between the two renames leaves only the previous checkpoint, under its backup name
    target.rename(target.with_name(".latest.old"))
    assert read_state(find_checkpoint(tmp_path)) == {"global_step": 2}
    # a kill while writing leaves a temporary dir without state.json: never mistaken for a checkpoint
    (target.parent / ".latest.tmp-999").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint here"):
        find_checkpoint(tmp_path / "elsewhere")


def test_rng_states_are_restored(tmp_path):
    model, optimizer, _ = _model_and_optimizer()
    random.seed(7)
    np.random.seed(7)
    save_checkpoint(tmp_path / "c", model, optimizer, {})
    expected = (random.random(), float(np.random.rand()), paddle.rand([1]).item())
    load_checkpoint(tmp_path / "c", model, optimizer)
    assert (random.random(), float(np.random.rand()), paddle.rand([1]).item()) == expected
