"""Every preset in conf/experiment/ composes with the bundled demo data and trains a step through the real
entrypoint, with the preset's choices in the run's resolved config."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from conftest import REPO, run_ok

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

    resolved = yaml.safe_load((run_dir / "config_resolved.yaml").read_text())
    settings = _leaves(_preset_settings(preset))
    for overridden in ("trainer.max_steps", "trainer.batch_size", "trainer.num_workers"):
        settings.pop(overridden, None)
    assert f"{kind}.optimizer.lr" in settings and "trainer.eval_every_steps" in settings
    assert {key: _at(resolved, key) for key in settings} == settings


def _preset_settings(name: str) -> dict:
    """What a preset sets: its parent presets' settings (its defaults list), then its own on top."""
    cfg = yaml.safe_load((REPO / "ocrtrain" / "conf" / "experiment" / f"{name}.yaml").read_text())
    merged: dict = {}
    for entry in cfg.pop("defaults", []):
        if isinstance(entry, str) and entry != "_self_":
            merged = _merge(merged, _preset_settings(entry))
    return _merge(merged, cfg)


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def _leaves(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in cfg.items():
        out.update(
            _leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
        )
    return out


def _at(cfg: dict, dotted: str):
    for key in dotted.split("."):
        cfg = cfg[key]
    return cfg
