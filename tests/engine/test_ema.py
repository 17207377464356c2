"""trainer.ema_decay on the real PP-OCRv4 rec model and the bundled word crops: the average follows its formula,
evaluation and `best` see the average while training keeps its own weights, and a run killed mid-way resumes both
exactly."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REC_DEMO, fit_rec_demo

from ocrtrain.config import compose
from ocrtrain.engine.ema import EMA_FILE, WeightAverage
from ocrtrain.models.weight_sources.checkpoint import read_checkpoint_weights
from ocrtrain.models.weight_sources.pdparams import read_pdparams
from ocrtrain.tasks import build_task


def _state(model) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _shifted(state: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every floating-point tensor moved by noise (integer ones as they are)."""
    return {
        k: v + rng.normal(0, 0.1, v.shape).astype(v.dtype) if v.dtype.kind == "f" else v
        for k, v in state.items()
    }


def test_the_average_follows_its_formula_and_swapping_it_in_restores_the_training_weights(in_repo):
    task = build_task(compose("train", REC_DEMO))
    model = task.build_model()
    task.load_pretrained(model)
    start = _state(model)
    rng = np.random.default_rng(0)
    first, second = _shifted(start, rng), _shifted(start, rng)

    average = WeightAverage(model, decay=0.9)
    assert average.decay_at(0) == pytest.approx(0.1) and average.decay_at(100) == 0.9  # warm-up, then decay
    for step, weights in ((0, first), (100, second)):
        model.set_state_dict(weights)
        average.update(step)
    floats = [k for k, v in start.items() if v.dtype.kind == "f"]
    assert any("_mean" in k for k in floats)  # norm statistics are averaged with the parameters
    for name in floats:
        expected = 0.9 * (0.1 * start[name] + 0.9 * first[name]) + 0.1 * second[name]
        np.testing.assert_allclose(average.state_dict()[name].numpy(), expected, rtol=1e-5, atol=1e-6)

    with average.swapped_in():
        inside = _state(model)
    after = _state(model)
    assert all(np.allclose(inside[n], average.state_dict()[n].numpy()) for n in floats)
    assert all(np.array_equal(after[n], second[n]) for n in start)  # the training weights, bit for bit


@pytest.mark.slow
def test_best_holds_the_average_latest_both_and_an_interrupted_run_resumes_them_exactly(in_repo, tmp_path):
    schedule = {"ema_decay": 0.5, "eval_every_steps": 4, "freeze_norm": True}  # one evaluation, at step 4
    straight_dir = tmp_path / "straight"
    straight = fit_rec_demo(straight_dir, **schedule)
    straight_average = read_pdparams(straight_dir / "checkpoints" / "latest" / EMA_FILE).tensors
    best = read_checkpoint_weights(straight_dir / "checkpoints" / "best").tensors
    trained = [
        k for k in straight if k in straight_average and not np.allclose(straight[k], straight_average[k])
    ]
    assert trained  # the average lags the training weights ...
    assert all(np.array_equal(best[k], straight_average[k]) for k in straight_average)  # ... and `best` is it

    interrupted = tmp_path / "interrupted"
    with pytest.raises(SystemExit):
        fit_rec_demo(interrupted, stop_after=2, **schedule)
    with pytest.raises(ValueError, match=r"trained with trainer.ema_decay=0.5, resumed with None"):
        fit_rec_demo(interrupted, resume=str(interrupted), **(schedule | {"ema_decay": None}))
    resumed = fit_rec_demo(interrupted, resume=str(interrupted), **schedule)
    resumed_average = read_pdparams(interrupted / "checkpoints" / "latest" / EMA_FILE).tensors
    for name, value in straight_average.items():
        np.testing.assert_allclose(resumed_average[name], value, rtol=0, atol=1e-6, err_msg=name)
    assert all(np.allclose(resumed[k], straight[k], rtol=0, atol=1e-6) for k in straight)
