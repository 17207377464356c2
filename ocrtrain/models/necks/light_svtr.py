"""The sequence encoder of PP-OCRv6 small recognition (PaddleOCR's ``SequenceEncoder`` with ``lightsvtr``)."""

from __future__ import annotations

import paddle
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.layers import ConvBNSwish
from ocrtrain.models.necks.svtr import SVTRBlock


@register("neck", "LightSVTREncoder")
class LightSVTREncoder(nn.Layer):
    """A 1x1 shortcut projection beside a 1x1 projection, a 1 x k depthwise conv (residual) and SVTR blocks over
    the width; the two added. Input N x C x 1 x W backbone features; output N x W x dims."""

    def __init__(
        self,
        in_channels: int,
        dims: int = 120,
        depth: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 2.0,
        local_kernel: int = 7,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.shortcut = ConvBNSwish(in_channels, dims)
        self.project = ConvBNSwish(in_channels, dims)
        self.local = ConvBNSwish(dims, dims, (1, local_kernel), groups=dims)
        self.svtr_block = nn.LayerList([SVTRBlock(dims, num_heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dims, epsilon=1e-6)
        self.out_channels = dims

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        shortcut = self.shortcut(x)
        z = self.project(x)
        z = z + self.local(z)
        _, channels, height, width = z.shape
        z = z.flatten(2).transpose([0, 2, 1])
        for block in self.svtr_block:
            z = block(z)
        z = self.norm(z).reshape([0, height, width, channels]).transpose([0, 3, 1, 2]) + shortcut
        return z.squeeze(axis=2).transpose([0, 2, 1])
