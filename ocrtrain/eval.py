"""python -m ocrtrain.eval [checkpoint=<run | checkpoint dir | exported dir | zoo name | .pdparams>] [det=/rec= data=] [resize=pipeline]
[tune=true | compare=<another model>]

With no arguments: the most recent training run's best checkpoint, on that run's validation split. Writes
``eval_report.json`` (metrics at the top level, per-image/per-sample details below) and a picture of the worst cases.
With ``tune=true`` (detectors) it searches the DB post-process values instead (``ocrtrain.tuning``), writes
``tune_report.json`` and puts the winner where the model's inference settings live. With ``compare=<model>`` it
evaluates that model first on the same split (e.g. the shipped weights a fine-tune started from) and adds its report,
the metrics side by side and ``before_after.png``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ocrtrain.cli import prepare_command_line, user_errors
from ocrtrain.devices import Device

if TYPE_CHECKING:
    from ocrtrain.tasks.det import DetTask
    from ocrtrain.tasks.rec import RecTask
    from ocrtrain.tracking import MlflowRun, NoRun


def _task_config(cfg: DictConfig, run_cfg: DictConfig | None) -> DictConfig:
    """The training run's det/rec + data config, with anything given on this command line winning."""
    merged = OmegaConf.create({"seed": cfg.seed, "det": None, "rec": None, "data": None})
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


@dataclass
class _Loaded:
    """A model ready to evaluate: its predictor and the inference settings it ships with."""

    predictor: Any
    evaluated: str  # what the report names
    meta: dict[str, Any]  # its inference.yml (a checkpoint: the model config's, plus a still-valid tuned.yml)
    origin: str  # where those settings came from, for error messages
    checkpoint: Path | None = None
    step: int = 0


def _tune(
    cfg: DictConfig, task: DetTask | RecTask, loaded: _Loaded, run: MlflowRun | NoRun, out_dir: Path
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
    results = tuning.tune(task, loaded.predictor, grid, resizes or None, progress=True)
    print(tuning.summary(results, base, split, list(cfg.tune_holdout or [])))
    best = tuning.winner(results)
    tuned = tuning.tuned_section(best, split, loaded.step if loaded.checkpoint else None)
    holdout = {}
    if cfg.tune_holdout:
        holdout = tuning.holdout_scores(task, loaded.predictor, best, list(cfg.tune_holdout))
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
    written = (
        tuning.write_tuned(tuned, loaded.evaluated, loaded.checkpoint, out_dir)
        if cfg.tune_write
        else "nothing written (tune_write=false)"
    )
    resize = f"{best.resize['limit_side_len']}/{best.resize['limit_type']}"
    print(f"tuned DB values and the resize they were found at ({resize}): {written}")
    own = det_settings(loaded.meta, loaded.origin)
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
        step=loaded.step,
    )
    run.log_artifact(out_dir / "tune_report.json")
    run.end()


def _is_checkpoint(spec: str | None) -> bool:
    from ocrtrain.engine.checkpoint import STATE_FILE

    return spec is None or (Path(spec) / STATE_FILE).is_file() or (Path(spec) / "checkpoints").is_dir()


def _check_exists(spec: str | None) -> None:
    """A ``checkpoint=`` path that does not exist is said to be missing, before the model config is looked for
    where a checkpoint would have had it (which would fail asking for det= or rec=)."""
    from ocrtrain.zoo import ZOO

    if spec is not None and ":/" not in spec and spec not in ZOO and not Path(spec).exists():
        raise FileNotFoundError(
            f"checkpoint={spec}: no such file or directory (a run, checkpoint or exported directory, a zoo name "
            "or a models:/ or runs:/ URI)"
        )


def _load(cfg: DictConfig, task: DetTask | RecTask, spec: str | None, device: Device) -> _Loaded:
    """``spec`` (a run or checkpoint dir, an exported dir, a zoo name or a registry URI) as a model of ``task``."""
    from ocrtrain import runs, tuning
    from ocrtrain.devices import set_paddle_device
    from ocrtrain.models.weight_sources.pdparams import PdparamsFile
    from ocrtrain.pipeline.model_source import resolve_model_source
    from ocrtrain.pipeline.predictor import load_predictor
    from ocrtrain.tasks import load_checkpoint_model

    # a .pdparams (e.g. PaddleOCR's best_accuracy): into the model det=/rec= configures
    if spec is not None and PdparamsFile.claims(spec):
        set_paddle_device(device)
        task.pretrained = spec
        model = task.build_model()
        task.load_pretrained(model)
        model.eval()
        return _Loaded(task.eval_predictor(model), str(spec), task.inference_yml(), f"{spec} (model config)")
    if not _is_checkpoint(spec):  # run through the pipeline's predictor, with the settings it ships
        source = resolve_model_source(spec, task.kind, cfg.backend)
        return _Loaded(load_predictor(source, device, cfg.backend), str(spec), source.meta, source.origin)
    checkpoint = runs.best_checkpoint(spec)
    set_paddle_device(device)
    model, state = load_checkpoint_model(task, checkpoint)
    step = int(state.get("global_step", 0))
    meta, origin = task.inference_yml(), f"{checkpoint} (model config)"
    tuned = task.kind == "det" and tuning.read_checkpoint_tuning(checkpoint, step)
    if tuned:
        meta, origin = tuning.apply_tuned(meta, tuned), f"{checkpoint} (model config + {tuning.TUNED_FILE})"
    return _Loaded(task.eval_predictor(model), str(checkpoint), meta, origin, checkpoint, step)


def _evaluate(task: DetTask | RecTask, loaded: _Loaded, resize: str) -> dict[str, Any]:
    """The task's report for one model, with its own inference settings, naming what was evaluated."""
    task.use_inference_settings(loaded.meta, loaded.origin, resize)
    report = task.evaluate(loaded.predictor)
    details = report.pop("details")
    return {**report, "evaluated": loaded.evaluated, "details": details}


def _write_report(report: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def _float_metrics(report: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in report.items() if isinstance(v, float)}


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
@user_errors
def main(cfg: DictConfig) -> None:
    from ocrtrain import runs, tracking
    from ocrtrain.compare import metrics_table
    from ocrtrain.devices import parse_device
    from ocrtrain.tasks import build_task

    if cfg.resize not in ("train", "pipeline"):
        raise ValueError(f"resize must be 'train' or 'pipeline', got {cfg.resize!r}")
    if cfg.tune and cfg.compare is not None:
        raise ValueError("tune=true and compare=... are separate runs: tune one model, or compare two")
    device = parse_device(cfg.device)
    spec = cfg.checkpoint
    _check_exists(spec)
    training_run_dir, run_cfg = None, None
    if _is_checkpoint(spec):
        spec = str(runs.best_checkpoint(spec))  # resolved once: the config and the weights come from one run
        training_run_dir = runs.run_dir_of(Path(spec))
        given = (cfg.get("det") is not None or cfg.get("rec") is not None) and cfg.get("data") is not None
        # a checkpoint kept outside its run has no run config: then det=/rec= and data= must be given
        run_cfg = None if given else runs.run_config(training_run_dir, Path(spec))
    task = build_task(_task_config(cfg, run_cfg))
    loaded = _load(cfg, task, spec, device)

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    run = tracking.open_run(cfg, "eval", task, out_dir, training_run_dir=training_run_dir)
    with tracking.ended_on_error(run):  # e.g. an image that turns out damaged: FAILED, not RUNNING
        if cfg.tune:
            task.use_inference_settings(loaded.meta, loaded.origin, cfg.resize)
            _tune(cfg, task, loaded, run, out_dir)
            return
        before = None
        if cfg.compare is not None:  # the other model first, on the same split, with its own settings
            before = _evaluate(task, _load(cfg, task, str(cfg.compare), device), cfg.resize)
        report = _evaluate(task, loaded, cfg.resize)
        own = _float_metrics(report)
        metrics = dict(own)
        params = {"evaluated": loaded.evaluated, "eval.resize": cfg.resize}
        if before is not None:
            report["compared_to"] = {k: v for k, v in before.items() if k != "details"}
            metrics |= {f"compared/{k}": v for k, v in _float_metrics(before).items()}
            params["compared_to"] = before["evaluated"]
        written = {
            "report": _write_report(report, out_dir / "eval_report.json"),
            "worst cases": task.render_worst(report["details"], out_dir / "worst.png", k=int(cfg.worst_k)),
        }
        if before is not None:
            written["the other model's report"] = _write_report(before, out_dir / "compared_report.json")
            written["what changed most"] = task.render_changes(
                before["details"], report["details"], out_dir / "before_after.png", k=int(cfg.worst_k)
            )
        run.log_metrics(metrics, step=loaded.step)
        run.log_params(params)
        for path in written.values():
            run.log_artifact(path)
    run.end()
    print(json.dumps({"evaluated": loaded.evaluated, **own}, indent=2))
    if before is not None:
        print(metrics_table(before, report, (before["evaluated"], loaded.evaluated)))
    print("; ".join(f"{what}: {path}" for what, path in written.items()))


if __name__ == "__main__":
    prepare_command_line("eval")
    main()
