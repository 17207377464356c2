"""python -m ocrtrain.train det=PP-OCRv4_mobile_det data=mine  (or rec=PP-OCRv4_mobile_rec data=...)

With ``trainer.nproc=N`` (CPU) or ``device=gpu:0,1`` this process launches the data-parallel ranks and waits.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ocrtrain.cli import DATA_ERRORS, exit_on_signals, prepare_command_line, run_failed, user_errors
from ocrtrain.config_schema import NON_NEGATIVE_INT, check_rules, check_value, validated
from ocrtrain.engine import distributed


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@user_errors
def main(cfg: DictConfig) -> float | None:
    exit_on_signals()
    from ocrtrain import tracking
    from ocrtrain.devices import set_paddle_device
    from ocrtrain.engine.checkpoint import find_checkpoint
    from ocrtrain.engine.optim import OPTIMIZER_RULES
    from ocrtrain.engine.trainer import Trainer, TrainerConfig
    from ocrtrain.runs import run_dir_of
    from ocrtrain.tasks import build_task

    check_value("seed", cfg.seed, NON_NEGATIVE_INT)  # every number of the run is checked before any work
    trainer_cfg = validated(TrainerConfig, OmegaConf.to_container(cfg.trainer, resolve=True), "trainer")
    processes = distributed.plan(cfg.device, trainer_cfg.nproc)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # a resumed run keeps writing into its own run directory (and MLflow run); a checkpoint kept outside any run
    # continues in a new one
    if cfg.resume:
        run_dir = run_dir_of(find_checkpoint(Path(cfg.resume))) or run_dir
    if processes.world_size > 1 and not distributed.launched_rank():
        return launch_ranks(cfg, processes, run_dir)
    if not distributed.launched_rank() and int(os.environ.get("PADDLE_TRAINERS_NUM", "1")) > 1:
        raise ValueError(
            "start data-parallel training with trainer.nproc=N (cpu) or device=gpu:0,1, not under "
            "paddle.distributed.launch: the ranks must share one run directory"
        )
    distributed.quiet_other_ranks()
    if hint := distributed.cpu_parallel_hint(processes):  # None in a rank: its plan has several processes
        logging.getLogger("ocrtrain.train").info(hint)
    task = build_task(cfg)
    set_paddle_device(distributed.rank_device(cfg.device))
    optimizer_cfg = OmegaConf.to_container(cfg[task.kind].optimizer, resolve=True)
    check_rules(optimizer_cfg, OPTIMIZER_RULES, f"{task.kind}.optimizer")

    resume_run_id = tracking.read_run_file(run_dir) if cfg.resume else None
    run = tracking.open_run(cfg, "train", task, run_dir, resume_run_id=resume_run_id)
    # SIGINT/SIGTERM end it KILLED with the checkpoint saved (a resume reopens this MLflow run)
    with tracking.ended_on_error(run):
        try:
            result = Trainer(task, trainer_cfg, optimizer_cfg, run_dir, tracker=run, resume=cfg.resume).fit()
        except DATA_ERRORS as e:  # a bad sample met in training (a data worker's error, re-raised as itself)
            run_failed(e)
        for name in ("metrics.jsonl", "loss_curve.png", "train.log"):
            run.log_artifact(run_dir / name)
        if cfg.tracking.get("log_checkpoint", "best") == "best":
            run.log_artifact(Path(result["best_checkpoint"]), "checkpoints/best")
        run.log_artifact(Path(result["best_checkpoint"]) / "dict.txt")  # rec: the dictionary the model speaks
    run.end()

    best = result["best_metric"]
    if os.environ.get("PADDLE_TRAINER_ID", "0") != "0":  # data parallel: rank 0 reports the run
        return best
    print(
        f"done: {result['global_step']} steps; best {task.metric_name} "
        f"{'n/a' if best is None else f'{best:.4f}'} at step {result['best_step']}; run dir {run_dir}"
        + (f"; MLflow run {run.run_id}" if run.run_id else "")
    )
    return best  # the objective of hyperparameter sweeps


def launch_ranks(cfg: DictConfig, processes: distributed.Plan, run_dir: Path) -> float | None:
    """The data-parallel ranks, started with this job's overrides into ``run_dir``; ends like one of them."""
    from ocrtrain import tracking
    from ocrtrain.engine.checkpoint import find_checkpoint, read_state

    hydra_cfg = HydraConfig.get()
    status = distributed.launch(processes, run_dir, list(hydra_cfg.overrides.task), hydra_cfg.job.config_name)
    if status:
        stopped = status in distributed.SIGNAL_EXITS
        tracking.end_unfinished(cfg.tracking, run_dir, "KILLED" if stopped else "FAILED")
        sys.exit(status)
    return read_state(find_checkpoint(run_dir)).get("best_metric")


if __name__ == "__main__":
    prepare_command_line("train")
    with distributed.exit_status_recorded():
        main()
