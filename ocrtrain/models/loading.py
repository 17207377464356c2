"""Loading named weights into a model, with a report of what matched and a refusal threshold.

Every load (``pretrained=``, a checkpoint for resume, eval or export) goes through ``load_weights``: tensors are
joined to the model's parameters by training name; what is missing, unexpected or of the wrong shape is reported,
and ``LoadReport.raise_if_poor`` refuses a load that leaves most of the model random.

For pretrained weights (``adapt=True``) each sublayer that defines
``adapt_weights(prefix, tensors, report, context)`` first gets to fill or re-map its own tensors in ``tensors``
(the DB head seeds its threshold branch, the CTC head re-maps its classifier to a new dictionary...), recording
what it did in ``report.initialised``. Checkpoints load as saved (``adapt=False``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from paddle import nn

from ocrtrain.models.weights import Weights, WeightsError, read_weights

MIN_MATCHED_FRACTION = 0.9


@dataclass
class LoadContext:
    """What the model's adapt hooks may need besides the tensors."""

    characters: list[str] | None = None  # rec: the dictionary the model will speak
    source_characters: list[str] | None = (
        None  # rec: the one the weights speak (None: the source does not say)
    )


@dataclass
class LoadReport:
    source: str
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the weights
    unexpected: list[str] = field(default_factory=list)  # in the weights, not in the model
    shape_mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    initialised: dict[str, str] = field(default_factory=dict)  # missing params filled another way, and how

    @property
    def matched_fraction(self) -> float:
        total = len(self.matched) + len(self.missing) + len(self.shape_mismatched)
        return len(self.matched) / total if total else 0.0

    def summary(self) -> str:
        lines = [
            f"weights from {self.source}: {len(self.matched)} matched "
            f"({self.matched_fraction:.1%} of the model), {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.shape_mismatched)} shape-mismatched"
        ]
        for how in sorted(set(self.initialised.values())):
            names = [n for n, h in self.initialised.items() if h == how]
            lines.append(f"  {len(names)} missing tensors initialised: {how}")
        for name, want, got in self.shape_mismatched[:10]:
            lines.append(f"  shape mismatch {name}: model {list(want)} vs weights {list(got)}")
        uninitialised = [n for n in self.missing if n not in self.initialised]
        if uninitialised:
            more = " ..." if len(uninitialised) > 10 else ""
            lines.append(f"  left at random initialisation: {uninitialised[:10]}{more}")
        return "\n".join(lines)

    def raise_if_poor(self, min_fraction: float = MIN_MATCHED_FRACTION) -> None:
        """Refuse to use mostly random weights (a wrong model, a wrong or empty file)."""
        if self.matched_fraction < min_fraction:
            raise WeightsError(
                f"only {self.matched_fraction:.1%} of the model's tensors were found in {self.source} "
                f"(need {min_fraction:.0%}): wrong model for these weights?\n{self.summary()}"
            )


def load_weights(
    model: nn.Layer, weights: Weights, adapt: bool = True, context: LoadContext | None = None
) -> LoadReport:
    """Set ``model``'s parameters from ``weights`` by training name; returns what matched and what did not."""
    tensors = dict(weights.tensors)
    state = model.state_dict()
    report = LoadReport(weights.source)
    if adapt:
        context = context or LoadContext()
        if context.source_characters is None:
            context.source_characters = weights.characters
        for prefix, layer in model.named_sublayers(include_self=True):
            hook = getattr(layer, "adapt_weights", None)
            if hook is not None:
                hook(f"{prefix}." if prefix else "", tensors, report, context)
    to_load = {}
    for name, param in state.items():
        if name not in tensors:
            if name not in report.initialised:
                report.missing.append(name)
            continue
        value = np.asarray(tensors[name])
        if tuple(value.shape) != tuple(param.shape):
            report.shape_mismatched.append((name, tuple(param.shape), tuple(value.shape)))
            continue
        to_load[name] = value.astype(np.float32) if value.dtype == np.float64 else value
        if name not in report.initialised:
            report.matched.append(name)
    report.unexpected = sorted(set(tensors) - set(state))
    model.set_state_dict(to_load)
    return report


def load_pretrained(model: nn.Layer, source: str | Path, characters: list[str] | None = None) -> LoadReport:
    """Load ``source`` (zoo name, inference dir, .pdparams, checkpoint or run dir) into ``model`` for training.

    ``characters``: the recogniser's dictionary when it may differ from the one the weights speak.
    """
    return load_weights(model, read_weights(str(source)), context=LoadContext(characters=characters))
