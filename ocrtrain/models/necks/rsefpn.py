"""RSEFPN: the PP-OCRv4 mobile detector's feature pyramid with squeeze-excitation."""

from __future__ import annotations

import paddle
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.layers import SqueezeExcite, upsample_nearest


class RSELayer(nn.Layer):
    """conv (no bias) followed by squeeze-excitation, with a residual shortcut around the attention."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, shortcut: bool = True) -> None:
        super().__init__()
        self.in_conv = nn.Conv2D(in_ch, out_ch, kernel, padding=kernel // 2, bias_attr=False)
        self.se_block = SqueezeExcite(out_ch, hardsigmoid_slope=0.2)
        self.shortcut = shortcut

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.in_conv(x)
        return x + self.se_block(x) if self.shortcut else self.se_block(x)


@register("neck", "RSEFPN")
class RSEFPN(nn.Layer):
    """Top-down feature pyramid over the four backbone maps; returns their fusion at stride 4 (out_channels)."""

    def __init__(self, in_channels: list[int], out_channels: int = 96, shortcut: bool = True) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.ins_conv = nn.LayerList([RSELayer(c, out_channels, 1, shortcut) for c in in_channels])
        self.inp_conv = nn.LayerList([self.output_layer(out_channels, shortcut) for _ in in_channels])

    def output_layer(self, channels: int, shortcut: bool) -> nn.Layer:
        """The layer that turns one merged level into its quarter of the output channels."""
        return RSELayer(channels, channels // 4, 3, shortcut)

    def forward(self, features: list[paddle.Tensor]) -> paddle.Tensor:
        return self.fuse(self.top_down(features))

    # levels run coarsest first (3 -> 0), in PaddleOCR's order: graphs exported from its models (ONNX) list their
    # weights in this order, and ``models.use_order`` joins them by position
    TOP_DOWN = (3, 2, 1, 0)

    def top_down(self, features: list[paddle.Tensor]) -> dict[int, paddle.Tensor]:
        """Level -> its lateral map plus the upsampled merged map of the level above (out_channels, stride 4 * 2^level)."""
        lateral = {i: self.ins_conv[i](features[i]) for i in self.TOP_DOWN}
        merged = {3: lateral[3]}
        for level in self.TOP_DOWN[1:]:
            merged[level] = lateral[level] + upsample_nearest(merged[level + 1], 2)
        return merged

    def fuse(self, merged: dict[int, paddle.Tensor]) -> paddle.Tensor:
        """Each merged level's output layer, upsampled to stride 4 and concatenated."""
        outs = {i: upsample_nearest(self.inp_conv[i](merged[i]), 2**i) for i in self.TOP_DOWN}
        return paddle.concat([outs[i] for i in self.TOP_DOWN], axis=1)
