"""trainer.freeze / trainer.unfreeze_at_step on the real PP-OCRv4 rec model and the bundled word crops: frozen
parts keep their loaded weights and get no backward pass, the rest trains, and a run resumed mid-schedule (frozen
at its checkpoint, unfrozen after) ends with the same weights as a run left alone."""

from __future__ import annotations

import os

import numpy as np
import paddle
import pytest
from conftest import REC_DEMO, REPO, fit_rec_demo, latest_weights

from ocrtrain.config import compose
from ocrtrain.config_schema import ConfigError, validated
from ocrtrain.engine.freeze import Freezer
from ocrtrain.engine.trainer import TrainerConfig
from ocrtrain.tasks import build_task


@pytest.fixture(scope="module")
def pretrained() -> dict[str, np.ndarray]:
    os.chdir(REPO)
    task = build_task(compose("train", REC_DEMO))
    model = task.build_model()
    task.load_pretrained(model)
    return {k: v.numpy() for k, v in model.state_dict().items()}


def _split(weights: dict[str, np.ndarray], prefix: str) -> tuple[dict, dict]:
    inside = {k: v for k, v in weights.items() if k.startswith(prefix + ".")}
    return inside, {k: v for k, v in weights.items() if k not in inside}


def _same(a: dict, b: dict, atol: float = 0.0) -> bool:
    return a.keys() == b.keys() and all(np.allclose(a[k], b[k], rtol=0, atol=atol) for k in a)


def test_frozen_parameters_get_no_gradient_and_no_backward_pass(in_repo):
    task = build_task(compose("train", REC_DEMO))
    model = task.build_model()
    task.load_pretrained(model)
    Freezer(model, ["backbone"]).apply(0)
    model.train()
    batch = task.collate([task.train_dataset()[i] for i in range(2)])
    task.loss(model, batch)["loss"].backward()
    named = dict(model.named_parameters())
    assert all(p.grad is None for n, p in named.items() if n.startswith("backbone."))
    assert all(p.grad is not None for n, p in named.items() if n.startswith("head.ctc_head."))
    features = model.backbone(paddle.to_tensor(batch["image"]))
    assert features.stop_gradient  # no backward graph is recorded through the frozen backbone


@pytest.mark.slow
def test_a_frozen_backbone_stays_as_loaded_and_unfreezing_after_a_resume_ends_like_a_run_left_alone(
    in_repo, tmp_path, pretrained
):
    # freeze_norm=false: BatchNorm would adapt its statistics in training mode; frozen layers must not
    schedule = {"freeze": ["backbone"], "unfreeze_at_step": 2, "freeze_norm": False}
    straight = fit_rec_demo(tmp_path / "straight", **schedule)

    interrupted = tmp_path / "interrupted"
    with pytest.raises(SystemExit):
        fit_rec_demo(interrupted, stop_after=2, **schedule)  # the checkpoint of step 2: backbone still frozen
    backbone, rest = _split(latest_weights(interrupted), "backbone")
    loaded_backbone, loaded_rest = _split(pretrained, "backbone")
    assert _same(backbone, loaded_backbone)  # parameters and running statistics, bit for bit
    changed = [k for k in rest if not np.array_equal(rest[k], loaded_rest[k])]
    assert any(k.startswith("head.ctc_head") for k in changed)
    assert any(k.startswith("head.ctc_encoder") for k in changed)

    resumed = fit_rec_demo(interrupted, resume=str(interrupted), **schedule)
    assert not _same(_split(straight, "backbone")[0], loaded_backbone)  # it trained after step 2
    assert _same(resumed, straight, atol=1e-6)


def test_a_path_that_names_nothing_is_an_error_listing_the_model_parts(in_repo):
    model = build_task(compose("train", REC_DEMO)).build_model()
    with pytest.raises(ConfigError, match=r"trainer.freeze: 'backbon' names no part") as error:
        Freezer(model, ["backbon"])
    assert "backbone, backbone.conv1" in str(error.value) and "head.ctc_head" in str(error.value)
    with pytest.raises(ConfigError, match="trainer.freeze: must be a list of module paths"):
        validated(TrainerConfig, {"freeze": "backbone"}, "trainer")
