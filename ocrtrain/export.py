"""python -m ocrtrain.export [checkpoint=<run or checkpoint dir>] [export_dir=...] [register=<name> [alias=champion]]

Writes the fused inference directory (docs/architecture.md: inference.json + inference.pdiparams + inference.yml)
that the pipeline loads with ``det_model=<dir>`` / ``rec_model=<dir>``, then checks that the exported model computes
what the checkpoint computes and prints the largest difference. Tracked as an MLflow run under the training run; with
``register=<name>`` the exported model becomes a new version of that registered model (and ``alias=`` points at it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import numpy as np
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ocrtrain.cli import check_overrides, user_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
@user_errors
def main(cfg: DictConfig) -> None:
    from ocrtrain import runs, tracking
    from ocrtrain.devices import parse_device, set_paddle_device
    from ocrtrain.models.export import save_inference
    from ocrtrain.pipeline.model_source import resolve_model_source
    from ocrtrain.pipeline.predictor import load_predictor
    from ocrtrain.tasks import PARITY_TOLERANCE, build_task, load_checkpoint_model

    if cfg.register and not cfg.tracking.enabled:
        raise ValueError("register= needs MLflow tracking: drop tracking.enabled=false")
    checkpoint = runs.best_checkpoint(cfg.checkpoint)
    run_dir = runs.run_dir_of(checkpoint)
    run_cfg = runs.run_config(run_dir)
    task = build_task(run_cfg)
    set_paddle_device(parse_device(cfg.device))
    model, state = load_checkpoint_model(task, checkpoint)
    sample = task.parity_batch()
    expected = task.dygraph_predictor(model)(sample)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    run = tracking.open_run(cfg, "export", task, out_dir, training_run_dir=run_dir)
    export_dir = Path(cfg.export_dir or out_dir / "inference")
    save_inference(model, export_dir, task.export_input_shape())
    metrics = {k: v for k, v in (state.get("eval") or {}).items() if isinstance(v, float)}
    meta = task.inference_yml()
    meta["ocrtrain"] = {
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

    exported = load_predictor(resolve_model_source(str(export_dir), task.kind), "cpu", enable_mkldnn=False)
    diff = float(np.abs(exported(sample) - expected).max())
    verdict = "OK" if diff <= PARITY_TOLERANCE else "MISMATCH"
    print(f"exported {task.kind} model from {checkpoint} to {export_dir}")
    print(
        f"parity checkpoint vs exported model: max abs diff {diff:.2e} (tolerance {PARITY_TOLERANCE:.0e}) {verdict}"
    )
    run.log_metrics({**metrics, "parity_max_abs_diff": diff}, step=int(state.get("global_step") or 0))
    run.log_artifact(export_dir, "inference")
    if diff > PARITY_TOLERANCE:
        run.end("FAILED")
        raise SystemExit(1)
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
                "parity_max_abs_diff": f"{diff:.2e}",
                **{f"metric.{k}": v for k, v in metrics.items()},
            },
        )
        alias = f"models:/{cfg.register}@{cfg.alias} and " if cfg.alias else ""
        print(f"registered {alias}models:/{cfg.register}/{version}")
    run.end()


if __name__ == "__main__":
    check_overrides(sys.argv[1:])
    main()
