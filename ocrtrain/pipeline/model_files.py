"""The files of an inference model directory, read and checked before paddle sees them.

paddle.inference answers a damaged graph with a segmentation fault and a damaged parameters file with a multi-line
error that does not name the file; these checks name the file and say what is wrong. They also tell the model's
kind from its graph (the shape of its output), for directories without an ``inference.yml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ModelSourceError(ValueError):
    """A model spec that cannot be resolved, a damaged model file, or a model that does not fit its role."""


@dataclass
class ModelSource:
    spec: str  # what the user wrote
    task: str  # "det" | "rec" | "cls"
    model_file: Path | None  # the Paddle program (None: the model has only an ONNX graph)
    params_file: Path | None
    # inference.yml content (zoo models: built from config)
    meta: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # where ``meta`` comes from, for error messages
    onnx_file: Path | None = None  # the ONNX graph, if the model has one (``export format=onnx`` writes it)


@dataclass(frozen=True)
class Graph:
    """What the inference program says about itself."""

    output_shape: list[int]  # -1 = dynamic
    params: list[tuple[str, list[int]]]  # (name, shape), sorted by name as the parameters file stores them


def _read_pir_json(model_file: Path) -> Graph:
    try:
        program = json.loads(model_file.read_bytes())
        ops = program["program"]["regions"][0]["blocks"][0]["ops"]
        params = sorted((op["A"][3], op["O"]["TT"]["D"][1]) for op in ops if op["#"] == "p")
        (fetch,) = [op for op in ops if op["#"].endswith(".fetch")][:1]
        output = fetch["O"][0]["TT"]["D"][1]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ModelSourceError(f"{model_file}: not a Paddle inference program (PIR JSON)") from None
    return Graph(list(output), [(name, list(shape)) for name, shape in params])


def _read_legacy_program(model_file: Path) -> Graph:
    from google.protobuf.message import DecodeError
    from paddle.base.proto import framework_pb2

    try:
        program = framework_pb2.ProgramDesc.FromString(model_file.read_bytes())
        block = program.blocks[0]
        variables = {v.name: v for v in block.vars}
        (fetched,) = [op.inputs[0].arguments[0] for op in block.ops if op.type == "fetch"][:1]
        output = list(variables[fetched].type.dense_tensor.tensor.dims)
    except (DecodeError, IndexError, KeyError, ValueError):
        raise ModelSourceError(f"{model_file}: not a Paddle inference program (.pdmodel)") from None
    params = sorted(
        (v.name, list(v.type.dense_tensor.tensor.dims))
        for v in block.vars
        if v.persistable and v.name not in ("feed", "fetch")
    )
    return Graph(output, params)


def read_graph(model_file: Path) -> Graph:
    """The program's output shape and parameter shapes; a file that is no such program is a ModelSourceError."""
    if model_file.stat().st_size == 0:
        raise ModelSourceError(f"{model_file}: empty file")
    return _read_pir_json(model_file) if model_file.suffix == ".json" else _read_legacy_program(model_file)


def check_params(params_file: Path, graph: Graph) -> None:
    """The parameters file is complete and holds the tensors the graph needs, shape by shape."""
    from ocrtrain.models.weight_sources.paddle_files import read_combined_params
    from ocrtrain.models.weights import WeightsError

    try:
        tensors = read_combined_params(params_file, [name for name, _ in graph.params])
    except WeightsError as e:
        raise ModelSourceError(str(e)) from None
    for i, (name, shape) in enumerate(graph.params, start=1):
        if list(tensors[name].shape) != shape:
            raise ModelSourceError(
                f"{params_file}: the weights do not fit the graph in {params_file.parent} (tensor {i}, {name}, "
                f"is {list(tensors[name].shape)}, the graph expects {shape}): weights of another model?"
            )


def task_of_graph(graph: Graph) -> str | None:
    """det: N x 1 x H x W probability map; rec: N x T x classes; cls: N x classes. None when it is none of these."""
    shape = graph.output_shape
    if len(shape) == 4 and shape[1] == 1:
        return "det"
    if len(shape) == 3:
        return "rec"
    if len(shape) == 2:
        return "cls"
    return None
