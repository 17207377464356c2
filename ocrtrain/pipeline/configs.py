"""Model configs as the pipeline needs them: a zoo model's composed ``conf/<task>/<name>.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ocrtrain.config import compose
from ocrtrain.pipeline.model_files import ModelSourceError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def zoo_model_config(name: str, task: str) -> dict[str, Any]:
    """The composed model config ``conf/<task>/<name>.yaml`` (with its ``conf/training/*`` defaults)."""
    if not (CONF_DIR / task / f"{name}.yaml").is_file():
        raise ModelSourceError(f"{name}: no model config conf/{task}/{name}.yaml to take its settings from")
    return OmegaConf.to_container(compose(f"{task}/{name}")[task], resolve=True)
