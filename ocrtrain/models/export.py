"""Saving a trained model as a Paddle 3 inference program (``inference.json`` + ``inference.pdiparams``), and that
program as an ONNX graph (``inference.onnx``).

The models train in their re-parameterised form already (see ``backbones/pplcnetv3.py``), so export needs no
branch fusion: the eval-mode forward (one tensor, see ``ocrtrain.models``) is traced as is; training-only parts
(the DB threshold branch, the GTC decoder) are not part of it. Parameters are stored under their training names
(``backbone.conv1.conv.weight``), so an exported directory is a weight source that loads by name.
"""

from __future__ import annotations

from pathlib import Path

import paddle
from paddle import nn
from paddle.static import InputSpec


class EvalForward(nn.Layer):
    """Traced instead of the model itself: ``to_static`` replaces the forward of the layer it is given."""

    def __init__(self, model: nn.Layer) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.model(x)


def save_inference(model: nn.Layer, out_dir: str | Path, input_shape: list[int | None]) -> Path:
    """Trace ``model`` in eval mode for inputs of ``input_shape`` (None = dynamic) and save it to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    tensors = model.state_dict()
    unique_names = {name: tensor.name for name, tensor in tensors.items()}
    try:
        for name, tensor in tensors.items():
            tensor.name = name
        static = paddle.jit.to_static(
            EvalForward(model),
            input_spec=[InputSpec(shape=input_shape, dtype="float32", name="x")],
            full_graph=True,
        )
        paddle.jit.save(static, str(out_dir / "inference"))
    finally:  # the optimizer keys its state by the unique names
        for name, tensor in tensors.items():
            tensor.name = unique_names[name]
    return out_dir


ONNX_OPSET = 14
# an exported program (or ONNX graph) may differ from the model it was exported from by at most this (max abs)
PARITY_TOLERANCE = 1e-4


def save_onnx(inference_dir: str | Path) -> Path:
    """Convert the Paddle program in ``inference_dir`` (``inference.json`` as :func:`save_inference` writes it, or a
    legacy ``inference.pdmodel``) into ``inference.onnx`` beside it (paddle2onnx; dynamic dimensions stay dynamic)."""
    try:
        import paddle2onnx
    except ImportError:
        raise ImportError("export format=onnx needs paddle2onnx: pip install 'ocrtrain[onnx]'") from None
    inference_dir = Path(inference_dir)
    program = inference_dir / "inference.json"
    if not program.is_file():
        program = inference_dir / "inference.pdmodel"
    onnx_file = inference_dir / "inference.onnx"
    paddle2onnx.export(
        str(program),
        str(inference_dir / "inference.pdiparams"),
        str(onnx_file),
        opset_version=ONNX_OPSET,
        enable_onnx_checker=True,
    )
    if not onnx_file.is_file():  # paddle2onnx logs a failed conversion instead of raising
        raise RuntimeError(f"paddle2onnx could not convert {program} (its log above says why)")
    return onnx_file
