"""python -m ocrtrain.train det=PP-OCRv4_mobile_det data=mine  (or rec=PP-OCRv4_mobile_rec data=...)"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ocrtrain.cli import user_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@user_errors
def main(cfg: DictConfig) -> None:
    from ocrtrain.devices import parse_device, set_paddle_device
    from ocrtrain.engine.checkpoint import find_checkpoint
    from ocrtrain.engine.trainer import Trainer, TrainerConfig
    from ocrtrain.tasks import build_task

    task = build_task(cfg)
    set_paddle_device(parse_device(cfg.device))
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if cfg.resume:  # a resumed run keeps writing into its own run directory
        run_dir = find_checkpoint(Path(cfg.resume)).parent.parent
    trainer_cfg = TrainerConfig(**OmegaConf.to_container(cfg.trainer, resolve=True))
    optimizer_cfg = OmegaConf.to_container(cfg[task.kind].optimizer, resolve=True)
    result = Trainer(task, trainer_cfg, optimizer_cfg, run_dir, resume=cfg.resume).fit()
    best = result["best_metric"]
    print(
        f"done: {result['global_step']} steps; best {task.metric_name} "
        f"{'n/a' if best is None else f'{best:.4f}'} at step {result['best_step']}; run dir {run_dir}"
    )


if __name__ == "__main__":
    main()
