"""Necks: RSEFPN for detection, the SVTR sequence encoder for recognition."""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from ocrtrain.models.backbones import SqueezeExcite


def upsample_nearest(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """Nearest-neighbour upsampling by an integer factor, written with tile + reshape.

    Same values as ``F.upsample(mode="nearest")``, but exported programs then run with oneDNN on CPU: paddle 3.3's
    oneDNN executor cannot take the interpolate op's float-list attribute.
    """
    if factor == 1:
        return x
    n, c, h, w = paddle.shape(x)[0], paddle.shape(x)[1], paddle.shape(x)[2], paddle.shape(x)[3]
    tiled = x.unsqueeze([3, 5]).tile([1, 1, 1, factor, 1, factor])
    return tiled.reshape(paddle.stack([n, c, h * factor, w * factor]))


class RSELayer(nn.Layer):
    """conv (no bias) followed by squeeze-excitation, with a residual shortcut around the attention."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, shortcut: bool = True):
        super().__init__()
        self.in_conv = nn.Conv2D(in_ch, out_ch, kernel, padding=kernel // 2, bias_attr=False)
        self.se_block = SqueezeExcite(out_ch, hardsigmoid_slope=0.2)
        self.shortcut = shortcut

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.in_conv(x)
        return x + self.se_block(x) if self.shortcut else self.se_block(x)


class RSEFPN(nn.Layer):
    """Top-down feature pyramid over the four backbone maps; returns their fusion at stride 4 (out_channels)."""

    def __init__(self, in_channels: list[int], out_channels: int = 96, shortcut: bool = True):
        super().__init__()
        self.out_channels = out_channels
        self.ins_conv = nn.LayerList([RSELayer(c, out_channels, 1, shortcut) for c in in_channels])
        self.inp_conv = nn.LayerList(
            [RSELayer(out_channels, out_channels // 4, 3, shortcut) for _ in in_channels]
        )

    def forward(self, features: list[paddle.Tensor]) -> paddle.Tensor:
        # indexing rather than zip(): paddle.jit.to_static traces this forward for export
        lateral = [self.ins_conv[i](f) for i, f in enumerate(features)]
        merged = [lateral[3]]
        for level in (2, 1, 0):  # top-down: add the upsampled coarser map
            merged.insert(0, lateral[level] + upsample_nearest(merged[0], 2))
        outs = [self.inp_conv[i](m) for i, m in enumerate(merged)]
        scaled = [upsample_nearest(o, 2**i) for i, o in enumerate(outs)]
        return paddle.concat(scaled[::-1], axis=1)


class ConvBNSwish(nn.Layer):
    def __init__(self, in_ch: int, out_ch: int, kernel: tuple[int, int] = (1, 1)):
        super().__init__()
        self.conv = nn.Conv2D(
            in_ch, out_ch, kernel, padding=(kernel[0] // 2, kernel[1] // 2), bias_attr=False
        )
        self.norm = nn.BatchNorm2D(out_ch)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return F.swish(self.norm(self.conv(x)))


class GlobalAttention(nn.Layer):
    def __init__(self, dim: int, num_heads: int):
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
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc2(F.swish(self.fc1(x)))


class SVTRBlock(nn.Layer):
    """Pre-norm transformer block with global attention and a Swish MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, epsilon=1e-5), nn.LayerNorm(dim, epsilon=1e-5)
        self.mixer = GlobalAttention(dim, num_heads)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = x + self.dropout(self.mixer(self.norm1(x)))
        return x + self.dropout(self.mlp(self.norm2(x)))


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
    ):
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
