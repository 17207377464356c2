"""Named weights from anywhere, through the ``weight_source`` plug-ins (``ocrtrain/models/weight_sources/``).

A weight source is a class registered with ``@register("weight_source", name)`` that has

* ``claims(spec: str) -> bool``: whether ``spec`` (a zoo name, a file, a directory) is its kind of source, judged
  from names on disk only (cheap, reads nothing);
* ``read(spec: str) -> Weights``: the tensors under their training names (``backbone.conv1.conv.weight``).

Exactly one source claims a spec. Every error while reading names the file and what is wrong with it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import ocrtrain.components as components


class WeightsError(ValueError):
    """Weights that cannot be read, or that do not fit the model they are loaded into."""


@dataclass
class GraphOrder:
    """Weights whose stored names do not map onto training names (ONNX): their ``tensors`` are listed in the
    order the source graph first uses them, and are named by the model's own use order when loaded
    (``ocrtrain.models.use_order``). The mapping is then checked by running ``run``, the source graph itself."""

    input_shape: list[int | None]  # the graph's input, None = dynamic
    run: Callable[[np.ndarray], np.ndarray]  # the graph on an input batch -> its (first) output


@dataclass
class Weights:
    source: str  # the file (or zoo name) read, for messages
    tensors: dict[str, np.ndarray]  # training name -> value
    stored_names: dict[str, str] = field(
        default_factory=dict
    )  # training name -> name in the file, if it differs
    characters: list[str] | None = None  # rec: the dictionary the CTC classifier speaks, when the source says
    graph_order: GraphOrder | None = (
        None  # set when ``tensors`` are keyed by graph position, not training name
    )


def _why_unclaimed(text: str) -> str:
    """What ``text`` is not, and what it most likely meant."""
    from ocrtrain.zoo import ZOO

    path = Path(text).expanduser()
    # PaddleOCR's pretrained_model leaves the suffix off
    if path.suffix == "" and path.with_name(path.name + ".pdparams").is_file():
        return f"no such file or directory; did you mean {text}.pdparams?"
    if not path.exists() and (len(path.parts) > 1 or path.suffix):
        return "no such file or directory"
    close = difflib.get_close_matches(text, list(ZOO), n=1)
    if not path.exists() and close:
        return f"not a zoo name or a path; did you mean {close[0]}?"
    return (
        "not a zoo name, a Paddle inference directory (legacy .pdmodel or inference.json), a .pdparams file, an "
        "ONNX file, or a checkpoint / training run directory"
    )


def read_weights(spec: str) -> Weights:
    """The weights ``spec`` names, read by the one weight source that claims it."""
    text = str(spec)
    claimants = [
        n for n in components.names("weight_source") if components.get("weight_source", n).claims(text)
    ]
    if not claimants:
        raise FileNotFoundError(f"weights '{text}': {_why_unclaimed(text)}")
    if len(claimants) > 1:
        raise WeightsError(f"weights '{text}': ambiguous, claimed by the weight sources {claimants}")
    return components.get("weight_source", claimants[0]).read(text)
