"""Freezing parts of the model by module path (``trainer.freeze``) until a step (``trainer.unfreeze_at_step``).

A frozen parameter has ``stop_gradient`` set: it gets no gradient, Adam skips it, and paddle records no backward
pass through layers whose inputs and parameters all stop gradients (a frozen backbone costs its forward pass only).
Frozen layers also stay in eval mode, so their norm statistics and dropout do not change what they compute.
Whether a part is frozen is a function of the global step alone, so a resumed run is in the same state as the run
it continues; the optimizer keeps moments for every trainable parameter from the start (see
:func:`ocrtrain.engine.optim.build_optimizer`), so a part unfrozen at step N starts with zero moments and a fresh
bias correction, and a checkpoint restores them exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import paddle

from ocrtrain.config_schema import ConfigError, rule

# the `trainer.freeze` value: a list of module paths of the model (prefixes on dot boundaries)
MODULE_PATHS = rule(
    "a list of module paths such as [backbone] or [backbone.blocks2, neck]",
    lambda v: isinstance(v, (list, tuple)) and all(isinstance(p, str) and p.strip() for p in v),
)


def is_under(name: str, prefix: str) -> bool:
    """Whether the parameter or layer ``name`` lies under the module path ``prefix`` (on dot boundaries)."""
    return name == prefix or name.startswith(prefix + ".")


def module_paths(model: paddle.nn.Layer, depth: int = 2) -> list[str]:
    """The model's sublayer paths with at most ``depth`` components (what an error offers to choose from)."""
    return [name for name, _ in model.named_sublayers() if name.count(".") < depth]


def check_module_paths(model: paddle.nn.Layer, prefixes: Iterable[str], key: str) -> None:
    """Raise a :class:`ConfigError` naming ``key`` for a module path that names no part of the model."""
    layer_names = [name for name, _ in model.named_sublayers()]
    for prefix in prefixes:
        if not any(is_under(name, prefix) for name in layer_names):
            raise ConfigError(
                f"{key}: {prefix!r} names no part of the model; available: "
                f"{', '.join(module_paths(model))} (and finer paths below these)"
            )


class Freezer:
    """Which parameters and layers ``trainer.freeze`` names, and whether they are frozen at a global step."""

    def __init__(
        self,
        model: paddle.nn.Layer,
        prefixes: Sequence[str],
        unfreeze_at_step: int | None = None,
        world_size: int = 1,
    ) -> None:
        check_module_paths(model, prefixes, "trainer.freeze")
        if prefixes and unfreeze_at_step is not None and world_size > 1:
            raise ConfigError(
                "trainer.unfreeze_at_step: not supported with data parallel (the gradient all-reduce is set up "
                "for the parameters trainable at the start); unfreeze by resuming a run without trainer.freeze"
            )
        self.unfreeze_at_step = unfreeze_at_step
        self.layers = [layer for name, layer in model.named_sublayers() if name in prefixes]
        # parameters the model trains at all (a parameter built with stop_gradient stays untouched)
        self.params = [
            param
            for name, param in model.named_parameters()
            if not param.stop_gradient and any(is_under(name, p) for p in prefixes)
        ]
        self._frozen = False

    def frozen_at(self, step: int) -> bool:
        """Whether the named parts are frozen for the optimizer step that follows ``step`` finished steps."""
        return bool(self.params) and (self.unfreeze_at_step is None or step < self.unfreeze_at_step)

    def apply(self, step: int) -> bool:
        """Freeze or unfreeze for the coming step; True when parts were just unfrozen (they must go back to
        training mode: the caller's own train-mode rule applies to them from now on)."""
        frozen = self.frozen_at(step)
        unfrozen_now = self._frozen and not frozen
        self._frozen = frozen
        for param in self.params:
            param.stop_gradient = frozen
        if frozen:
            for layer in self.layers:
                layer.eval()
        return unfrozen_now
