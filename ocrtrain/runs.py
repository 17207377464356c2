"""Finding training runs and their checkpoints on disk (``outputs/train/<time>/``)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ocrtrain.engine.checkpoint import STATE_FILE, find_checkpoint

TRAIN_ROOT = Path("outputs") / "train"


def latest_run(root: Path = TRAIN_ROOT) -> Path:
    """The most recently modified run directory under ``root`` that holds a checkpoint."""
    runs = [p.parents[2] for p in Path(root).glob(f"*/checkpoints/*/{STATE_FILE}")]
    if not runs:
        raise FileNotFoundError(
            f"no training run with a checkpoint under {Path(root).resolve()}: train first "
            "(python -m ocrtrain.train det=... data=...) or pass checkpoint=<run dir or checkpoint dir>"
        )
    return max(set(runs), key=lambda p: (p / "checkpoints").stat().st_mtime)


def best_checkpoint(spec: str | Path | None) -> Path:
    """A checkpoint from a run directory (its ``best``, else ``latest``), a checkpoint directory, or the latest run."""
    path = Path(spec) if spec else latest_run()
    best = path / "checkpoints" / "best"
    return best if (best / STATE_FILE).is_file() else find_checkpoint(path)


def run_dir_of(checkpoint: Path) -> Path | None:
    """``<run>/checkpoints/<name>`` -> ``<run>``; None for a checkpoint kept outside a run (copied out of one)."""
    checkpoint = Path(checkpoint).resolve()
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None


def run_config(run_dir: Path | None, checkpoint: Path) -> DictConfig:
    """The resolved config the training run of ``checkpoint`` was started with (Hydra's ``.hydra/config.yaml``)."""
    if run_dir is None:
        raise FileNotFoundError(
            f"{checkpoint}: not in a training run's checkpoints/ folder, so the config it was trained with is "
            "unknown: give it inside its run directory (eval also takes det=/rec= and data= with it)"
        )
    path = Path(run_dir) / ".hydra" / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the run's saved config is missing; pass det=/rec= and data= explicitly"
        )
    return OmegaConf.load(path)
