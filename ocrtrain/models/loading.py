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

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle
from paddle import nn

from ocrtrain.models.use_order import eval_mode, parameter_use_order
from ocrtrain.models.weights import GraphOrder, Weights, WeightsError, read_weights

log = logging.getLogger("ocrtrain")
MIN_MATCHED_FRACTION = 0.9
GRAPH_CHECK_TOLERANCE = 1e-4  # max abs difference to the source graph's output on a probe input


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
    folded: list[str] = field(default_factory=list)  # layers computed from another form of the same layer
    graph_check: str | None = None  # weights joined by graph position: how the join was checked

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
        if self.graph_check:
            lines.append(f"  {self.graph_check}")
        if self.folded:
            lines.append(
                f"  {len(self.folded)} layers folded from PaddleOCR's training branches (e.g. {self.folded[0]})"
            )
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
    """Set ``model``'s parameters from ``weights`` by training name; returns what matched and what did not.

    Weights keyed by graph position (``weights.graph_order``) are first named by the model's use order, and the
    loaded model is then checked against the source graph (``WeightsError`` when it computes something else)."""
    graph = weights.graph_order
    use_order: list[str] = []
    if graph is not None:
        use_order = parameter_use_order(model, graph.input_shape)
        weights = name_by_use_order(model, weights, use_order)
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
    if graph is not None:
        report.graph_check = check_against_graph(model, graph, use_order, report)
    return report


def name_by_use_order(model: nn.Layer, weights: Weights, use_order: list[str]) -> Weights:
    """``weights`` listed in graph order, named by ``use_order`` (the model's); a surplus on either side stays
    unnamed or missing, and a tensor stored in another layout of the same size (a conv bias as 1 x C x 1 x 1)
    takes the model's shape."""
    state = model.state_dict()
    stored = list(weights.tensors)
    tensors, stored_names = {}, {}
    for name, key in zip(use_order, stored, strict=False):  # a surplus stays unnamed or missing
        value = weights.tensors[key]
        shape = list(state[name].shape)
        tensors[name] = value.reshape(shape) if value.size == int(np.prod(shape)) else value
        stored_names[name] = key
    tensors.update({key: weights.tensors[key] for key in stored[len(use_order) :]})
    return Weights(weights.source, tensors, stored_names, weights.characters)


def check_against_graph(model: nn.Layer, graph: GraphOrder, use_order: list[str], report: LoadReport) -> str:
    """Run the loaded model and the source graph on one probe input; a difference means a wrong join."""
    misfits = [name for name, _, _ in report.shape_mismatched if name in set(use_order)]
    if misfits:
        raise WeightsError(
            f"{report.source}: joined to the model in graph order, {len(misfits)} tensors do not fit "
            f"(e.g. {misfits[0]}): the model's architecture differs from the graph's\n{report.summary()}"
        )
    matched = set(report.matched)
    changed = [n for n in use_order if n not in matched]
    if changed:
        return (
            f"not checked against the source graph: {len(changed)} of the tensors it computes with were not "
            f"loaded as stored (e.g. {changed[0]}: {report.initialised.get(changed[0], 'missing or mismatched')})"
        )
    shape = [1 if i == 0 else 64 for i in range(len(graph.input_shape))]
    shape = [d if d is not None else default for d, default in zip(graph.input_shape, shape, strict=True)]
    probe = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    with eval_mode(model):
        ours = model(paddle.to_tensor(probe)).numpy()
    reference = graph.run(probe)
    difference = float(np.abs(ours - reference).max()) if ours.shape == reference.shape else float("inf")
    if not difference <= GRAPH_CHECK_TOLERANCE:
        raise WeightsError(
            f"{report.source}: the weights, joined to the model in graph order, do not compute what the graph "
            f"computes (max abs difference {difference:.3g} on a probe input, output shapes {list(ours.shape)} "
            f"vs {list(reference.shape)}): the model's architecture differs from the graph's"
        )
    return f"checked against the source graph (ONNX Runtime): max abs difference {difference:.2g} on a probe input"


def load_pretrained(model: nn.Layer, source: str | Path, characters: list[str] | None = None) -> LoadReport:
    """Load ``source`` (zoo name, inference dir, .pdparams, checkpoint or run dir) into ``model`` for training.

    ``characters``: the recogniser's dictionary when it may differ from the one the weights speak.
    """
    return load_weights(model, read_weights(str(source)), context=LoadContext(characters=characters))


def load_pretrained_for_run(model: nn.Layer, source: str | Path, characters: list[str] | None = None) -> None:
    """``load_pretrained`` as a training or evaluation run does it: its report logged (the console, and the run's log
    file under Hydra), and refused when most of the model would stay random."""
    report = load_pretrained(model, source, characters)
    log.info(report.summary())
    report.raise_if_poor()
