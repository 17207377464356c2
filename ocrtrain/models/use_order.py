"""The order in which a model's eval-mode forward first uses its parameters.

Weights exported to a graph format whose stored names do not map onto training names (ONNX: anonymous
``p2o.*`` constants, ``auto.cast.*`` copies) can still be joined to the model by position: the graph's nodes
run in the order the exporter traced the forward, so the n-th parameter the graph uses is the n-th parameter
the model uses. The model's order is read from its traced program (not from ``state_dict`` order, which follows
attribute definition, nor from layer call order, which hides when a layer's own parameters are used).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import paddle
from paddle import nn
from paddle.static import InputSpec

from ocrtrain.models.export import EvalForward

# Paddle's batch_norm operands are (x, mean, variance, scale, bias); graph formats list scale and bias first
_BATCH_NORM_ORDER = (2, 3, 0, 1)


@contextmanager
def eval_mode(model: nn.Layer) -> Iterator[nn.Layer]:
    """``model`` in eval mode for the block; each sublayer's own mode (e.g. frozen BatchNorm) is restored after."""
    was_training = {id(layer): layer.training for layer in model.sublayers(include_self=True)}
    model.eval()
    try:
        yield model
    finally:
        for layer in model.sublayers(include_self=True):
            layer.training = was_training[id(layer)]


def parameter_use_order(model: nn.Layer, input_shape: list[int | None]) -> list[str]:
    """Training names of ``model``'s tensors (parameters and BatchNorm statistics) in first-use order of its
    eval-mode forward on an input of ``input_shape`` (None = dynamic); tensors the forward does not use (the DB
    threshold branch, a training-only decoder) are not listed."""
    training_name = {tensor.name: name for name, tensor in model.state_dict().items()}
    with eval_mode(model):
        static = paddle.jit.to_static(
            EvalForward(model), input_spec=[InputSpec(list(input_shape), "float32", "x")], full_graph=True
        )
        program = static.forward.concrete_program.main_program
    order: list[str] = []
    seen: set[str] = set()
    for op in program.global_block().ops:
        used = []
        for operand in op.operands():
            source = operand.source().get_defining_op()
            if source is not None and source.name() == "builtin.parameter":
                used.append(source.attrs()["parameter_name"])
        if op.name().startswith("pd_op.batch_norm") and len(used) == 4:
            used = [used[i] for i in _BATCH_NORM_ORDER]
        for name in (training_name[n] for n in used if n in training_name):
            if name not in seen:
                seen.add(name)
                order.append(name)
    return order
