"""The plain sequence view of recognition features (PaddleOCR's ``SequenceEncoder`` with ``reshape``)."""

from __future__ import annotations

import paddle
from paddle import nn

from ocrtrain.components import register


@register("neck", "Im2Seq")
class Im2Seq(nn.Layer):
    """N x C x 1 x W backbone features -> N x W x C, no parameters."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.out_channels = in_channels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x.squeeze(axis=2).transpose([0, 2, 1])
