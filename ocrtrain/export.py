"""python -m ocrtrain.export [checkpoint=<run or checkpoint dir>] [export_dir=...] [format=paddle|onnx|paddle,onnx]
[register=<name> [alias=champion]]

Writes the fused inference directory (docs/architecture.md: inference.json + inference.pdiparams + inference.yml,
and with ``format=onnx`` an ``inference.onnx`` for ONNX Runtime) that the pipeline loads with ``det_model=<dir>`` /
``rec_model=<dir>``, then checks that each exported model computes what the checkpoint computes and prints the
largest difference. Tracked as an MLflow run under the training run; with
``register=<name>`` the exported model becomes a new version of that registered model (and ``alias=`` points at it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import hydra
import numpy as np
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ocrtrain.cli import prepare_command_line, user_errors

FORMATS = ("paddle", "onnx")
# the files a model directory is read from (docs/architecture.md), by the format that writes them
MODEL_FILES = {"paddle": ("inference.json", "inference.pdiparams"), "onnx": ("inference.onnx",)}
LEGACY_FILES = ("inference.pdmodel", "inference.pdiparams.info")  # a Paddle 2 program, read but never written


def export_formats(value: str | list[str]) -> list[str]:
    """``format=`` as a list: ``onnx``, ``paddle,onnx`` or ``[paddle,onnx]``."""
    given = [value] if isinstance(value, str) else list(value)
    chosen = [part.strip() for item in given for part in str(item).split(",") if part.strip()]
    if not chosen or set(chosen) - set(FORMATS):
        raise ValueError(f"format={','.join(chosen)}: expected paddle, onnx or paddle,onnx")
    if "onnx" in chosen and importlib.util.find_spec("paddle2onnx") is None:
        raise ValueError("format=onnx needs paddle2onnx: pip install 'ocrtrain[onnx]'")
    return chosen


def checked_export_dir(path: Path) -> Path:
    """``path``, if it can be a directory: neither it nor a folder above it is a file."""
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise ValueError(f"export_dir={path}: {part} is a file, not a directory")
    return path


def remove_model_files_not_of(export_dir: Path, formats: list[str]) -> list[str]:
    """Delete the model files in ``export_dir`` that ``formats`` do not write, so that no engine loads a model left
    by an earlier export; returns their names. Other files stay."""
    keep = {name for f in formats for name in MODEL_FILES[f]}
    known = [*(name for names in MODEL_FILES.values() for name in names), *LEGACY_FILES]
    removed = [name for name in known if name not in keep and (export_dir / name).is_file()]
    for name in removed:
        (export_dir / name).unlink()
    return removed


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
@user_errors
def main(cfg: DictConfig) -> None:
    from ocrtrain import runs, tracking
    from ocrtrain.devices import parse_device, set_paddle_device
    from ocrtrain.models.export import save_inference, save_onnx
    from ocrtrain.pipeline.model_source import resolve_model_source
    from ocrtrain.pipeline.predictor import load_predictor
    from ocrtrain.tasks import PARITY_TOLERANCE, build_task, load_checkpoint_model
    from ocrtrain.tuning import TUNED_FILE, apply_tuned, read_checkpoint_tuning

    if cfg.register and not cfg.tracking.enabled:
        raise ValueError("register= needs MLflow tracking: drop tracking.enabled=false")
    formats = export_formats(cfg.format)
    device = parse_device(cfg.device)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    export_dir = checked_export_dir(Path(cfg.export_dir or out_dir / "inference"))
    checkpoint = runs.best_checkpoint(cfg.checkpoint)
    run_dir = runs.run_dir_of(checkpoint)
    run_cfg = runs.run_config(run_dir, checkpoint)
    task = build_task(run_cfg)
    set_paddle_device(device)
    model, state = load_checkpoint_model(task, checkpoint)
    sample = task.parity_batch()
    expected = task.dygraph_predictor(model)(sample)
    run = tracking.open_run(cfg, "export", task, out_dir, training_run_dir=run_dir)
    with tracking.ended_on_error(run):
        if export_dir.is_dir() and (stale := remove_model_files_not_of(export_dir, formats)):
            print(f"removed {', '.join(stale)} of an earlier export from {export_dir}")
        save_inference(model, export_dir, task.export_input_shape())
        metrics = {k: v for k, v in (state.get("eval") or {}).items() if isinstance(v, float)}
        meta = task.inference_yml()
        tuned = task.kind == "det" and read_checkpoint_tuning(checkpoint, int(state.get("global_step") or 0))
        if tuned:  # what `eval tune=true` found for these weights
            meta = apply_tuned(meta, tuned)
            print(
                f"inference.yml takes the tuned values of {checkpoint / TUNED_FILE}: {tuned['PostProcess']}"
            )
        meta["ocrtrain"] = {
            **meta.get("ocrtrain", {}),  # the tuning record, if any
            "task": task.kind,
            "checkpoint": str(checkpoint),
            "run_dir": str(run_dir),
            "global_step": state.get("global_step"),
            "metrics": metrics,
            "training_run_id": tracking.read_run_file(run_dir),
            "export_run_id": run.run_id,
            **task.provenance(),
        }
        (export_dir / "inference.yml").write_text(
            yaml.safe_dump(meta, allow_unicode=True, sort_keys=False), "utf-8"
        )

        checks = {}  # metric name -> (what was compared, backend)
        if "paddle" in formats:
            checks["parity_max_abs_diff"] = ("exported model", "paddle")
        if "onnx" in formats:
            save_onnx(export_dir)
            # without paddle among the formats, the program was only the converter's input
            remove_model_files_not_of(export_dir, formats)
            checks["onnx_parity_max_abs_diff"] = ("ONNX model (onnxruntime)", "onnxruntime")
        print(f"exported {task.kind} model ({', '.join(formats)}) from {checkpoint} to {export_dir}")
        diffs = {}
        for metric, (what, backend) in checks.items():
            source = resolve_model_source(str(export_dir), task.kind, backend)
            exported = load_predictor(source, "cpu", backend, enable_mkldnn=False)
            diffs[metric] = float(np.abs(exported(sample) - expected).max())
            verdict = "OK" if diffs[metric] <= PARITY_TOLERANCE else "MISMATCH"
            print(
                f"parity checkpoint vs {what}: max abs diff {diffs[metric]:.2e} "
                f"(tolerance {PARITY_TOLERANCE:.0e}) {verdict}"
            )
        run.log_metrics({**metrics, **diffs}, step=int(state.get("global_step") or 0))
        run.log_artifact(export_dir, "inference")
        if max(diffs.values()) > PARITY_TOLERANCE:
            raise SystemExit(1)  # the run ends FAILED
        if cfg.register:
            from ocrtrain.mlflow_registry import register_model

            lineage = {"training_run_id": meta["ocrtrain"]["training_run_id"], "checkpoint": str(checkpoint)}
            version = register_model(
                run,
                export_dir,
                cfg.register,
                cfg.alias,
                {
                    **lineage,
                    **{name: f"{diff:.2e}" for name, diff in diffs.items()},
                    **{f"metric.{k}": v for k, v in metrics.items()},
                },
            )
            alias = f"models:/{cfg.register}@{cfg.alias} and " if cfg.alias else ""
            print(f"registered {alias}models:/{cfg.register}/{version}")
    run.end()


if __name__ == "__main__":
    prepare_command_line("export", lists=("format",))
    main()
