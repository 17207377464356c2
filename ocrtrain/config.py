"""Composing ocrtrain's packaged Hydra configs from Python (tests, benchmarks, notebooks), and their resolvers."""

from __future__ import annotations

import secrets
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_module
from omegaconf import DictConfig, OmegaConf

# ${unique:} in a run dir: a short random suffix, so runs started in the same second never share a directory
if not OmegaConf.has_resolver("unique"):
    OmegaConf.register_new_resolver("unique", lambda: secrets.token_hex(3), use_cache=True)


def compose(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """The config ``python -m ocrtrain.<config_name> <overrides>`` would run with (without Hydra's run dir), or
    any packaged config with its defaults applied (``pipeline/PP-OCRv6_small``, ``det/PP-OCRv6_small_det``).

    Works from inside a running Hydra app too (``python -m ocrtrain.infer`` composing a model config): the app's
    global state is set aside while composing and put back after."""
    from hydra.core.global_hydra import GlobalHydra

    running = GlobalHydra.instance()
    app = running.hydra if running.is_initialized() else None
    running.clear()
    try:
        with initialize_config_module(config_module="ocrtrain.conf", version_base="1.3"):
            return hydra_compose(config_name=config_name, overrides=list(overrides or []))
    finally:
        if app is not None:
            GlobalHydra.instance().initialize(app)


def to_plain(node: Any) -> Any:
    """A config node as plain Python containers (values that are not config nodes pass through)."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
