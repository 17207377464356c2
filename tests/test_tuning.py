"""DB post-process tuning (`python -m ocrtrain.eval ... tune=true`) with the shipped PP-OCRv4 detector on the demo
val images: the staged search scores exactly what eval scores, never loses to the model's own values, repairs a bad
start, and its result reaches the pipeline through inference.yml (exported dirs) or export (checkpoints)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import yaml
from conftest import REPO, run_ok
from omegaconf import OmegaConf

from ocrtrain import tuning
from ocrtrain.config import compose
from ocrtrain.engine.checkpoint import save_checkpoint
from ocrtrain.models.export import save_inference
from ocrtrain.pipeline.model_source import resolve_model_source
from ocrtrain.pipeline.predictor import load_predictor
from ocrtrain.tasks import build_task

ROOT = REPO / "datasets" / "icdar2015_demo"
DET = ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo", f"data.root={ROOT}"]
OFFLINE = ["tracking.enabled=false"]
SMALL_GRID = tuning.Grid(
    thresh=[0.2, 0.3], box_thresh=[0.4, 0.5, 0.6, 0.7], unclip_ratio=[1.5, 2.0], score_mode=["fast", "slow"]
)


@pytest.fixture(scope="module")
def demo():
    """The demo det task and the shipped detector's predictor."""
    task = build_task(compose("eval", DET))
    return task, load_predictor(resolve_model_source("PP-OCRv4_mobile_det", "det"), "cpu")


def test_every_searched_setting_scores_what_eval_scores(demo):
    task, predict = demo
    maps = tuning.collect_maps(task.probability_maps(predict, progress=False))
    assert all(m.prob.dtype == np.float16 for m in maps)
    rows = tuning.search(maps, task.db_config, SMALL_GRID, progress=False)
    assert len(rows) == SMALL_GRID.size() == 32
    hmeans = {mode: [r["hmean"] for r in rows if r["score_mode"] == mode] for mode in ("fast", "slow")}
    assert hmeans["fast"] != hmeans["slow"]  # the mode is applied, not just recorded
    for row in rows:
        cfg = replace(task.db_config, **{k: row[k] for k in tuning.TUNED_KEYS})
        expected = tuning.score(maps, cfg)
        assert {k: row[k] for k in expected} == pytest.approx(expected, abs=1e-12), row
    # and the plain path on float16 maps is eval itself
    report = task.evaluate(lambda batch: predict(batch).astype(np.float16).astype(np.float32), progress=False)
    assert tuning.score(maps, task.db_config)["hmean"] == pytest.approx(report["hmean"], abs=1e-12)


def test_tuning_keeps_the_defaults_unless_it_beats_them_and_repairs_a_bad_start(demo):
    task, predict = demo
    (result,) = tuning.tune(task, predict, SMALL_GRID, progress=False)
    assert result.best["hmean"] >= result.default["hmean"] > 0.3
    assert result.settings_tried == SMALL_GRID.size()
    assert "optimistic" in tuning.summary([result], task.db_config, "demo: val.txt")
    with_holdout = tuning.summary([result], task.db_config, "demo: val.txt", ["test.txt"])
    assert "optimistic" not in with_holdout  # the advice is not repeated to a user who follows it
    assert with_holdout.endswith("the Hmean to report is the held-out one below (test.txt)")

    bad_start = build_task(
        compose("eval", [*DET, "det.postprocess.box_thresh=0.95"])
    )  # drops almost every box
    (bad,) = tuning.tune(bad_start, predict, SMALL_GRID, progress=False)
    assert bad.default["hmean"] < 0.2
    assert bad.best["hmean"] >= result.best["hmean"] > bad.default["hmean"] + 0.2
    assert bad.settings()["box_thresh"] < 0.95
    assert bad.settings_tried == 2 * 5 * 2 * 2  # the start's own box_thresh joins the grid


def test_a_checkpoint_tuned_for_other_weights_is_ignored(tmp_path, capsys):
    tuned = {"global_step": 40, "PostProcess": {"thresh": 0.2, "box_thresh": 0.5, "unclip_ratio": 1.8}}
    (tmp_path / tuning.TUNED_FILE).write_text(yaml.safe_dump(tuned))
    assert tuning.read_checkpoint_tuning(tmp_path, 40) == tuned
    assert tuning.read_checkpoint_tuning(tmp_path, 80) is None
    assert "tuned at step 40, the checkpoint is now at step 80: ignored" in capsys.readouterr().out
    (tmp_path / tuning.TUNED_FILE).write_text("just text\n")
    with pytest.raises(ValueError, match="tuned.yml: not a tuning result"):
        tuning.read_checkpoint_tuning(tmp_path, 40)


def _bad_start_model(tmp_path, demo):
    """The shipped weights as a training run (config with a bad box_thresh, checkpoint at step 7) and exported."""
    task, _ = demo
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    cfg = compose("train", [*DET, "det.postprocess.box_thresh=0.95"])
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml", resolve=True)
    model = task.build_model()
    task.load_pretrained(model)
    save_checkpoint(run / "checkpoints" / "best", model, None, {"global_step": 7, "task": "det"})
    exported = tmp_path / "exported"
    save_inference(model, exported, task.export_input_shape())
    meta = build_task(cfg).inference_yml() | {"ocrtrain": {"task": "det"}}
    (exported / "inference.yml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return run, exported


def test_a_shipped_model_is_left_as_it_is_and_gets_a_pipeline_config_with_the_tuned_values(tmp_path):
    from ocrtrain.pipeline.ocr import load_pipeline_config

    post = {"thresh": 0.15, "box_thresh": 0.45, "unclip_ratio": 1.3, "score_mode": "slow"}
    tuned = {
        "global_step": None,
        "PostProcess": post,
        "DetResizeForTest": {"limit_side_len": 1024, "limit_type": "min"},
    }
    said = tuning.write_tuned(tuned, "PP-OCRv4_mobile_det", None, tmp_path)
    assert said.startswith(f"{tmp_path / 'pipeline.yaml'}: PP-OCRv4_mobile_det ships its settings")
    cfg = load_pipeline_config(tmp_path / "pipeline.yaml")
    assert cfg.det_model == "PP-OCRv4_mobile_det" and (cfg.det_limit_side_len, cfg.det_limit_type) == (
        1024,
        "min",
    )
    assert {k: cfg[f"det_{k}"] for k in tuning.TUNED_KEYS} == post


@pytest.mark.slow
def test_tuned_values_reach_the_pipeline_from_an_exported_dir_and_from_a_checkpoint(tmp_path, demo):
    from ocrtrain import create_pipeline

    run, exported = _bad_start_model(tmp_path, demo)
    small = [f"tune_grid.{k}=[{','.join(map(str, v))}]" for k, v in SMALL_GRID.axes()]

    out = run_ok(
        "eval", f"checkpoint={exported}", *DET[:2], f"data.root={ROOT}", "tune=true", "resize=pipeline",
        "tune_holdout=[val.txt]", *small, *OFFLINE, f"hydra.run.dir={tmp_path}/tune_export", cwd=tmp_path,
    ).stdout  # fmt: skip
    assert "the Hmean to report is the held-out one below (val.txt)" in out
    assert f"{exported / 'inference.yml'}: infer, eval and serving" in out
    report = json.loads((tmp_path / "tune_export" / "tune_report.json").read_text())
    assert report["hmean_tuned"] > report["hmean_default"] + 0.2
    held_out = report["holdout"]  # here the same split again: the same numbers, through the plain eval path
    assert (held_out["default"]["hmean"], held_out["tuned"]["hmean"]) == pytest.approx(
        (report["hmean_default"], report["hmean_tuned"]), abs=1e-6
    )
    meta = yaml.safe_load((exported / "inference.yml").read_text())
    assert meta["PostProcess"]["box_thresh"] == report["PostProcess"]["box_thresh"] < 0.95
    assert {"DetResizeForTest": {"limit_side_len": 960, "limit_type": "max"}} in meta["PreProcess"][
        "transform_ops"
    ]
    assert meta["ocrtrain"]["tuned"]["hmean_tuned"] == report["hmean_tuned"]
    pipe = create_pipeline("OCR", det_model=str(exported))
    assert {k: getattr(pipe.db_config, k) for k in tuning.TUNED_KEYS} == report["PostProcess"]

    run_ok(
        "eval", f"checkpoint={run}", "tune=true", "resize=pipeline", *small, *OFFLINE,
        f"hydra.run.dir={tmp_path}/tune_ckpt", cwd=tmp_path,
    )  # fmt: skip
    tuned = yaml.safe_load((run / "checkpoints" / "best" / tuning.TUNED_FILE).read_text())
    assert tuned["global_step"] == 7 and tuned["PostProcess"] == report["PostProcess"]
    out = run_ok(
        "export", f"checkpoint={run}", f"export_dir={tmp_path}/from_ckpt", *OFFLINE,
        f"hydra.run.dir={tmp_path}/export_run", cwd=tmp_path,
    ).stdout  # fmt: skip
    assert "takes the tuned values" in out
    pipe = create_pipeline("OCR", det_model=str(tmp_path / "from_ckpt"))
    assert {k: getattr(pipe.db_config, k) for k in tuning.TUNED_KEYS} == report["PostProcess"]


def test_eval_compares_two_detectors_each_with_its_own_settings(tmp_path, demo):
    import cv2

    # the shipped weights exported with box_thresh 0.95 in inference.yml, against the shipped model itself
    _, exported = _bad_start_model(tmp_path, demo)
    out = run_ok(
        "eval", "checkpoint=PP-OCRv4_mobile_det", *DET, f"compare={exported}", *OFFLINE,
        f"hydra.run.dir={tmp_path}/compare", cwd=tmp_path,
    ).stdout  # fmt: skip
    report = json.loads((tmp_path / "compare" / "eval_report.json").read_text())
    before = json.loads((tmp_path / "compare" / "compared_report.json").read_text())
    assert before["evaluated"] == report["compared_to"]["evaluated"] == str(exported)
    assert report["compared_to"]["hmean"] == before["hmean"] < 0.2 < 0.3 < report["hmean"]
    assert [d["image"] for d in before["details"]] == [d["image"] for d in report["details"]]
    change = f"{report['hmean'] - before['hmean']:+8.4f}"
    assert any(line.startswith("hmean") and line.endswith(change) for line in out.splitlines()), out
    sheet = cv2.imread(str(tmp_path / "compare" / "before_after.png"))
    assert sheet.shape == (2 * 360, 2 * 640, 3)  # the 2 demo images (1280 x 720), before | after
