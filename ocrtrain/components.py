"""The component registry: model parts, losses, post-processes, weight sources and label readers,
found by name.

A component registers itself where it is defined::

    @register("backbone", "PPLCNetV3")
    class PPLCNetV3(nn.Layer): ...

and configs name it as PaddleOCR's ``Architecture`` section does (``backbone: {name: PPLCNetV3, scale: 0.75}``).
Modules that define components are imported once, by package (``ocrtrain.models.backbones`` ...), when a kind is
first looked up, so adding a component is adding a file to its package.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

# kind -> the package whose modules define components of that kind
PACKAGES: dict[str, str] = {
    "backbone": "ocrtrain.models.backbones",
    "neck": "ocrtrain.models.necks",
    "head": "ocrtrain.models.heads",
    "loss": "ocrtrain.losses",
    "postprocess": "ocrtrain.postprocess",
    "weight_source": "ocrtrain.models.weight_sources",
    "label_reader": "ocrtrain.data.readers",
}

_REGISTRY: dict[str, dict[str, Any]] = {kind: {} for kind in PACKAGES}
_imported: set[str] = set()


def register(kind: str, name: str) -> Callable[[Any], Any]:
    """Class (or function) decorator: make ``obj`` the ``kind`` component called ``name``."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {sorted(_REGISTRY)}")

    def add(obj: Any) -> Any:
        existing = _REGISTRY[kind].get(name)
        if existing is not None and existing is not obj:
            raise ValueError(f"{kind} '{name}' is registered twice: {existing!r} and {obj!r}")
        _REGISTRY[kind][name] = obj
        return obj

    return add


def _import_kind(kind: str) -> None:
    """Import every module of the kind's package, so their ``@register`` lines run."""
    package_name = PACKAGES[kind]
    if package_name in _imported:
        return
    package = importlib.import_module(package_name)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package_name}.{module.name}")
    _imported.add(package_name)


def names(kind: str) -> list[str]:
    """Every registered name of ``kind``."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {sorted(_REGISTRY)}")
    _import_kind(kind)
    return sorted(_REGISTRY[kind])


def get(kind: str, name: str) -> Any:
    """The component ``name`` of ``kind``, with the known names in the error when there is none."""
    known = names(kind)
    if name not in _REGISTRY[kind]:
        raise ValueError(f"unknown {kind} '{name}'; registered {kind}s: {known}")
    return _REGISTRY[kind][name]


def build(kind: str, cfg: dict[str, Any], **extra: Any) -> Any:
    """Instantiate ``cfg["name"]`` with the rest of ``cfg`` (and ``extra``) as keyword arguments."""
    cfg = dict(cfg)
    if "name" not in cfg:
        raise ValueError(f"a {kind} config needs a 'name': {cfg}")
    return get(kind, cfg.pop("name"))(**cfg, **extra)
