"""RSEFPN: the PP-OCRv4 mobile detector's feature pyramid with squeeze-excitation."""

from __future__ import annotations

import paddle
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.layers import SqueezeExcite, upsample_nearest


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


@register("neck", "RSEFPN")
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
