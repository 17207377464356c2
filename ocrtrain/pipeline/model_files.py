"""The files of an inference model directory, read and checked before paddle sees them.

paddle.inference answers a damaged graph with a segmentation fault and a damaged parameters file with a multi-line
error that does not name the file; these checks name the file and say what is wrong. They also tell the model's
kind from its graph (the shape of its output), for directories without an ``inference.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocrtrain.models.weight_sources.paddle_files import ProgramGraph, read_combined_params, read_program
from ocrtrain.models.weights import WeightsError


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


def read_graph(model_file: Path) -> ProgramGraph:
    """The program's output shape and parameter shapes; a file that is no such program is a ModelSourceError."""
    try:
        return read_program(model_file)
    except WeightsError as e:
        raise ModelSourceError(str(e)) from None


def onnx_output_shape(onnx_file: Path) -> list[int]:
    """The first output shape of an ONNX graph (-1 = dynamic; ~0.07 s for 20 MB); [] without the onnx package
    (the ``zoo`` and ``onnx`` extras install it), which leaves the shape unchecked."""
    try:
        import onnx
    except ImportError:
        return []
    from google.protobuf.message import DecodeError

    try:
        graph = onnx.load(str(onnx_file), load_external_data=False).graph
    except (DecodeError, ValueError, OSError) as e:
        raise ModelSourceError(
            f"{onnx_file}: damaged or not an ONNX model ({type(e).__name__}: {e})"
        ) from None
    if not graph.output:
        raise ModelSourceError(f"{onnx_file}: an ONNX graph without outputs")
    dims = graph.output[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in dims]


def check_params(params_file: Path, graph: ProgramGraph) -> None:
    """The parameters file is complete and holds the tensors the graph needs, shape by shape."""
    try:
        tensors = read_combined_params(params_file, graph.param_names)
    except WeightsError as e:
        raise ModelSourceError(str(e)) from None
    for i, (name, shape) in enumerate(graph.params, start=1):
        if list(tensors[name].shape) != shape:
            raise ModelSourceError(
                f"{params_file}: the weights do not fit the graph in {params_file.parent} (tensor {i}, {name}, "
                f"is {list(tensors[name].shape)}, the graph expects {shape}): weights of another model?"
            )


def task_of_graph(graph: ProgramGraph) -> str | None:
    """det: N x 1 x H x W probability map; rec: N x T x classes; cls: N x classes. None when it is none of these."""
    shape = graph.output_shape
    if len(shape) == 4 and shape[1] == 1:
        return "det"
    if len(shape) == 3:
        return "rec"
    if len(shape) == 2:
        return "cls"
    return None
