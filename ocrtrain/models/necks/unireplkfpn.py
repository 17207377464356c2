"""UniRepLKFPN: the PP-OCRv6 detector's feature pyramid, RSEFPN with a large-kernel output layer per level.

In training it also returns its merged maps at strides 16, 8 and 4 (PaddleOCR's "aux_p4/p3/p2") for the DB head's
auxiliary branches: ``{"fuse": fused map, "aux": {"p4": ..., "p3": ..., "p2": ...}}``; eval returns the fused map.
"""

from __future__ import annotations

import paddle
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.necks.rsefpn import RSEFPN, RSELayer


class LargeKernelRSELayer(nn.Layer):
    """Depthwise k x k conv with bias, then a 1x1 RSE layer to a quarter of the channels.

    The fused form of PaddleOCR's dilated re-parameterised block (parallel dilated small kernels + BatchNorms,
    merged into one large kernel for inference), trained as shipped for the reason given in
    ``backbones/pplcnetv4.py``.
    """

    def __init__(self, channels: int, kernel: int, shortcut: bool) -> None:
        super().__init__()
        self.large_kernel = nn.Conv2D(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.rse = RSELayer(channels, channels // 4, 1, shortcut)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.rse(self.large_kernel(x))


@register("neck", "UniRepLKFPN")
class UniRepLKFPN(RSEFPN):
    def __init__(
        self,
        in_channels: list[int],
        out_channels: int = 96,
        dilated_kernel_size: int = 7,
        shortcut: bool = True,
    ) -> None:
        self.kernel = dilated_kernel_size  # read by output_layer during RSEFPN's construction
        super().__init__(in_channels, out_channels, shortcut)

    def output_layer(self, channels: int, shortcut: bool) -> nn.Layer:
        return LargeKernelRSELayer(channels, self.kernel, shortcut)

    def forward(self, features: list[paddle.Tensor]) -> paddle.Tensor | dict:
        merged = self.top_down(features)
        fused = self.fuse(merged)
        if not self.training:
            return fused
        return {"fuse": fused, "aux": {"p4": merged[2], "p3": merged[1], "p2": merged[0]}}
