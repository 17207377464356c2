"""Saving a trained model as a Paddle 3 inference program (``inference.json`` + ``inference.pdiparams``).

The models train in their re-parameterised form already (see ``backbones.py``), so export needs no branch fusion:
the eval-mode forward is traced as is; the DB threshold branch, used only in training, is not part of it.
"""

from __future__ import annotations

from pathlib import Path

import paddle
from paddle import nn
from paddle.static import InputSpec


class _FirstOutput(nn.Layer):
    """Inference programs return plain tensors: unwrap ``{"maps": ...}`` outputs."""

    def __init__(self, model: nn.Layer):
        super().__init__()
        self.model = model

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self.model(x)
        return out["maps"] if isinstance(out, dict) else out


def save_inference(model: nn.Layer, out_dir: str | Path, input_shape: list[int | None]) -> Path:
    """Trace ``model`` in eval mode for inputs of ``input_shape`` (None = dynamic) and save it to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    static = paddle.jit.to_static(
        _FirstOutput(model),
        input_spec=[InputSpec(shape=input_shape, dtype="float32", name="x")],
        full_graph=True,
    )
    paddle.jit.save(static, str(out_dir / "inference"))
    return out_dir
