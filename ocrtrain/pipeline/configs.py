"""ocrtrain's packaged configs (``ocrtrain/conf``), composed by Hydra so their defaults lists apply, from any caller:
a script, a notebook, or code running inside a Hydra app such as ``python -m ocrtrain.infer``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ocrtrain.pipeline.model_files import ModelSourceError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_packaged(config_name: str) -> DictConfig:
    """The packaged config ``config_name`` (e.g. ``pipeline/PP-OCRv6_small``), its defaults applied."""
    from hydra.core.global_hydra import GlobalHydra

    from ocrtrain.config import compose

    running = GlobalHydra.instance()
    app = running.hydra if running.is_initialized() else None
    running.clear()  # a running Hydra app keeps its own state: compose beside it, then put it back
    try:
        return compose(config_name)
    finally:
        if app is not None:
            GlobalHydra.instance().initialize(app)


def zoo_model_config(name: str, task: str) -> dict[str, Any]:
    """The composed model config ``conf/<task>/<name>.yaml`` (with its ``conf/training/*`` defaults)."""
    if not (CONF_DIR / task / f"{name}.yaml").is_file():
        raise ModelSourceError(f"{name}: no model config conf/{task}/{name}.yaml to take its settings from")
    return OmegaConf.to_container(compose_packaged(f"{task}/{name}")[task], resolve=True)
