"""python -m ocrtrain.eval [checkpoint=<run | checkpoint dir | exported dir | zoo name>] [det=/rec= data=] [resize=pipeline]
[tune=true]

With no arguments: the most recent training run's best checkpoint, on that run's validation split. Writes
``eval_report.json`` (metrics at the top level, per-image/per-sample details below) and a picture of the worst cases.
With ``tune=true`` (detectors) it searches the DB post-process values instead (``ocrtrain.tuning``), writes
``tune_report.json`` and puts the winner where the model's inference settings live.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ocrtrain.cli import check_overrides, user_errors


def _task_config(cfg: DictConfig, run_cfg: DictConfig | None) -> DictConfig:
    """The training run's det/rec + data config, with anything given on this command line winning."""
    merged = OmegaConf.create(
        {"seed": cfg.seed, "pretrained": cfg.pretrained, "det": None, "rec": None, "data": None}
    )
    if run_cfg is not None:
        for key in ("det", "rec", "data"):
            merged[key] = run_cfg.get(key)
    for key in ("det", "rec", "data"):
        if cfg.get(key) is not None:
            merged[key] = cfg[key]
    if cfg.get("det") is not None:
        merged.rec = None
    if cfg.get("rec") is not None:
        merged.det = None
    return merged


def _tune(
    cfg: DictConfig, task, predictor, run, out_dir: Path, spec, checkpoint, step: int, meta: dict
) -> None:
    """Search the DB values, print default vs tuned, write the winner where the model's settings live."""
    from ocrtrain import tuning
    from ocrtrain.pipeline.inference_settings import det_settings

    if task.kind != "det":
        raise ValueError(
            "tune=true tunes a detector's DB post-process (det=...); a recogniser has nothing to tune"
        )
    grid = tuning.Grid(*(list(cfg.tune_grid[k]) for k in tuning.TUNED_KEYS))
    resizes = [
        {"limit_side_len": int(side), "limit_type": str(kind)} for side, kind in cfg.tune_grid.resizes or []
    ]
    split = f"{task.data_cfg.root}: {', '.join(task.data_cfg.val.label_files)}"
    base = task.db_config
    results = tuning.tune(task, predictor, grid, resizes or None, progress=True)
    print(tuning.summary(results, base, split))
    best = tuning.winner(results)
    tuned = tuning.tuned_section(best, split, step if checkpoint else None)
    holdout = {}
    if cfg.tune_holdout:
        holdout = tuning.holdout_scores(task, predictor, best, list(cfg.tune_holdout))
        default, found = holdout["default"], holdout["tuned"]
        print(
            f"held out ({', '.join(cfg.tune_holdout)}, not tuned on): Hmean {default['hmean']:.3f} -> "
            f"{found['hmean']:.3f} ({found['hmean'] - default['hmean']:+.3f}; P {found['precision']:.3f} "
            f"R {found['recall']:.3f})"
        )
    (out_dir / "tune_report.json").write_text(
        json.dumps({**tuned, "holdout": holdout, "results": [vars(r) for r in results]}, indent=2),
        encoding="utf-8",
    )
    if not cfg.tune_write:
        written = "nothing written (tune_write=false)"
    elif checkpoint is not None:
        path = tuning.write_checkpoint_tuning(checkpoint, tuned)
        written = f"{path}: eval and export of this checkpoint (step {step}) use it"
    elif Path(spec).is_dir() and (Path(spec) / "inference.yml").is_file():
        path = tuning.write_inference_yml(Path(spec), tuned)
        written = f"{path}: infer, eval and serving of this model use it"
    else:  # a zoo name or registry URI: its settings are not ours to change
        path = out_dir / "pipeline.yaml"
        path.write_text(yaml.safe_dump(tuning.pipeline_overlay(str(spec), tuned), sort_keys=False), "utf-8")
        written = (
            f"{path}: {spec} ships its settings, so they are not changed; run it tuned with "
            f"python -m ocrtrain.infer pipeline={path} input=..."
        )
    resize = f"{best.resize['limit_side_len']}/{best.resize['limit_type']}"
    print(f"tuned thresh, box_thresh, unclip_ratio and the resize they were found at ({resize}): {written}")
    own = det_settings(meta, str(spec))
    if cfg.tune_write and (own.limit_side_len, own.limit_type) != tuple(best.resize.values()):
        print(
            f"note: the model ran at {own.limit_side_len}/{own.limit_type} before; it now runs at {resize} "
            "(resize=pipeline tunes at the model's own resize)"
        )
    run.log_params({f"tune.{k}": v for k, v in {**best.settings(), **best.resize}.items()})
    run.log_metrics(
        {
            "hmean_default": best.default["hmean"],
            **{k: best.best[k] for k in ("precision", "recall", "hmean")},
            "tune_search_s": best.search_s,
            **{f"holdout_hmean_{k}": v["hmean"] for k, v in holdout.items()},
        },
        step=step,
    )
    run.log_artifact(out_dir / "tune_report.json")
    run.end()


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
@user_errors
def main(cfg: DictConfig) -> None:
    from ocrtrain import runs, tracking, tuning
    from ocrtrain.devices import parse_device, set_paddle_device
    from ocrtrain.engine.checkpoint import STATE_FILE
    from ocrtrain.pipeline.model_source import resolve_model_source
    from ocrtrain.pipeline.predictor import load_predictor
    from ocrtrain.tasks import build_task, load_checkpoint_model

    if cfg.resize not in ("train", "pipeline"):
        raise ValueError(f"resize must be 'train' or 'pipeline', got {cfg.resize!r}")
    device = parse_device(cfg.device)
    spec = cfg.checkpoint
    is_checkpoint = (
        spec is None or (Path(spec) / STATE_FILE).is_file() or (Path(spec) / "checkpoints").is_dir()
    )
    training_run_dir, step, checkpoint = None, 0, None
    if is_checkpoint:
        checkpoint = runs.best_checkpoint(spec)
        training_run_dir = runs.run_dir_of(checkpoint)
        given = (cfg.get("det") is not None or cfg.get("rec") is not None) and cfg.get("data") is not None
        run_cfg = None if given else runs.run_config(training_run_dir)  # a bare checkpoint dir has none
        task = build_task(_task_config(cfg, run_cfg))
        set_paddle_device(device)
        model, state = load_checkpoint_model(task, checkpoint)
        step = int(state.get("global_step", 0))
        predictor, evaluated = task.eval_predictor(model), str(checkpoint)
        meta, origin = task.inference_yml(), f"{checkpoint} (model config)"
        tuned = task.kind == "det" and tuning.read_checkpoint_tuning(checkpoint, step)
        if tuned:
            meta, origin = (
                tuning.apply_tuned(meta, tuned),
                f"{checkpoint} (model config + {tuning.TUNED_FILE})",
            )
    else:  # an exported inference dir or a zoo name, run through the pipeline's predictor
        task = build_task(_task_config(cfg, None))
        source = resolve_model_source(spec, task.kind, cfg.backend)
        predictor, evaluated = load_predictor(source, device, cfg.backend), str(spec)
        meta, origin = source.meta, source.origin
    task.use_inference_settings(meta, origin, cfg.resize)

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    run = tracking.open_run(cfg, "eval", task, out_dir, training_run_dir=training_run_dir)
    if cfg.tune:
        _tune(cfg, task, predictor, run, out_dir, spec, checkpoint, step, meta)
        return
    report = task.evaluate(predictor)
    report = {
        **{k: v for k, v in report.items() if k != "details"},
        "evaluated": evaluated,
        "details": report["details"],
    }
    (out_dir / "eval_report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    picture = task.render_worst(report["details"], out_dir / "worst.png", k=int(cfg.worst_k))
    metrics = {k: v for k, v in report.items() if isinstance(v, float)}
    run.log_metrics(metrics, step=step)
    run.log_params({"evaluated": evaluated, "eval.resize": cfg.resize})
    for path in (out_dir / "eval_report.json", picture):
        run.log_artifact(path)
    run.end()
    print(json.dumps({"evaluated": evaluated, **metrics}, indent=2))
    print(f"report: {out_dir / 'eval_report.json'}; worst cases: {picture}")


if __name__ == "__main__":
    check_overrides(sys.argv[1:])
    main()
