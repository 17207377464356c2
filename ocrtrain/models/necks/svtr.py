"""The SVTR sequence encoder of PP-OCRv4 recognition (PaddleOCR's ``SequenceEncoder`` with ``encoder_type: svtr``)."""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.layers import ConvBNSwish


class GlobalAttention(nn.Layer):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads, self.scale = num_heads, (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        dim = x.shape[-1]
        qkv = (
            self.qkv(x).reshape([0, -1, 3, self.num_heads, dim // self.num_heads]).transpose([2, 0, 3, 1, 4])
        )
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attention = F.softmax(q.matmul(k.transpose([0, 1, 3, 2])), axis=-1)
        return self.proj(attention.matmul(v).transpose([0, 2, 1, 3]).reshape([0, -1, dim]))


class MLP(nn.Layer):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc2(F.swish(self.fc1(x)))


class SVTRBlock(nn.Layer):
    """Pre-norm transformer block with global attention and a Swish MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, epsilon=1e-5), nn.LayerNorm(dim, epsilon=1e-5)
        self.mixer = GlobalAttention(dim, num_heads)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = x + self.dropout(self.mixer(self.norm1(x)))
        return x + self.dropout(self.mlp(self.norm2(x)))


@register("neck", "SVTREncoder")
class SVTREncoder(nn.Layer):
    """PP-OCRv4's sequence encoder: local convs, SVTR blocks over the width, fused back with a shortcut.

    Input N x C x 1 x W backbone features; output N x W x dims.
    """

    def __init__(
        self,
        in_channels: int,
        dims: int = 120,
        depth: int = 2,
        hidden_dims: int = 120,
        kernel_size: tuple[int, int] = (1, 3),
        num_heads: int = 8,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        kernel = tuple(kernel_size)
        self.conv1 = ConvBNSwish(in_channels, in_channels // 8, kernel)
        self.conv2 = ConvBNSwish(in_channels // 8, hidden_dims)
        self.svtr_block = nn.LayerList(
            [SVTRBlock(hidden_dims, num_heads, mlp_ratio, dropout) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(hidden_dims, epsilon=1e-6)
        self.conv3 = ConvBNSwish(hidden_dims, in_channels)
        self.conv4 = ConvBNSwish(2 * in_channels, in_channels // 8, kernel)
        self.conv1x1 = ConvBNSwish(in_channels // 8, dims)
        self.out_channels = dims

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        z = self.conv2(self.conv1(x))
        _, channels, height, width = z.shape
        z = z.flatten(2).transpose([0, 2, 1])
        for block in self.svtr_block:
            z = block(z)
        z = self.norm(z).reshape([0, height, width, channels]).transpose([0, 3, 1, 2])
        z = self.conv1x1(self.conv4(paddle.concat([x, self.conv3(z)], axis=1)))
        return z.squeeze(axis=2).transpose([0, 2, 1])
