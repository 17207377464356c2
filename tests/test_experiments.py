"""Every preset in conf/experiment/ composes with the bundled demo data and trains a step through the real
entrypoint, with the preset's choices in the run's resolved config."""

from __future__ import annotations

import json
import math

import pytest
from conftest import REPO, run_ok
from omegaconf import DictConfig, OmegaConf

PRESETS = sorted(p.stem for p in (REPO / "ocrtrain" / "conf" / "experiment").glob("*.yaml"))
DEMO = {"det": "icdar2015_demo", "rec": "icdar2015_rec_demo"}


def test_there_is_a_fast_preset_for_each_task():
    assert {"det_finetune_fast", "rec_finetune_fast"} <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_a_preset_trains_a_step_on_the_demo_data(preset, tmp_path):
    kind = preset.split("_")[0]  # presets are per task: their settings live under det: or rec:
    data = DEMO[kind]
    out = run_ok(
        "train",
        f"experiment={preset}",
        f"data={data}",
        f"data.root={REPO / 'datasets' / data}",
        "trainer.max_steps=1",
        "trainer.batch_size=2",
        "trainer.num_workers=0",
        "tracking.enabled=false",
        cwd=tmp_path,
    ).stdout
    assert "done: 1 steps" in out
    (run_dir,) = list((tmp_path / "outputs" / "train").iterdir())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in rows if "loss" in r]
    assert losses[0]["step"] == 1 and math.isfinite(losses[0]["loss"])
    # the presets evaluate the pretrained weights first: `best` is the better of them and the fine-tune
    metric = "hmean" if kind == "det" else "acc"
    evals = {r["step"]: r[f"eval/{metric}"] for r in rows if f"eval/{metric}" in r}
    assert sorted(evals) == [0, 1]
    best = json.loads((run_dir / "checkpoints" / "best" / "state.json").read_text())
    assert best["best_metric"] == max(evals.values()) and evals[best["best_step"]] == best["best_metric"]

    resolved = OmegaConf.load(run_dir / "config_resolved.yaml")
    settings = _preset_settings(preset)
    for overridden in ("max_steps", "batch_size", "num_workers"):
        settings.trainer.pop(overridden, None)
    assert (
        OmegaConf.select(settings, f"{kind}.optimizer.lr") is not None
        and "eval_every_steps" in settings.trainer
    )
    assert OmegaConf.merge(resolved, settings) == resolved  # every setting of the preset is what the run used


def _preset_settings(name: str) -> DictConfig:
    """What a preset sets: its parent presets' settings (its defaults list), then its own on top."""
    cfg = OmegaConf.load(REPO / "ocrtrain" / "conf" / "experiment" / f"{name}.yaml")
    parents = [entry for entry in cfg.pop("defaults", []) if isinstance(entry, str) and entry != "_self_"]
    return OmegaConf.merge(*[_preset_settings(parent) for parent in parents], cfg)
