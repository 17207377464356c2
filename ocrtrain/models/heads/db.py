"""DB (differentiable binarisation) head: probability and threshold maps for text detection."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.layers import conv_norm
from ocrtrain.models.loading import LoadContext, LoadReport


class DBBranch(nn.Layer):
    """3x3 conv -> BN-ReLU -> 2x up-conv -> BN-ReLU -> 2x up-conv to one channel -> sigmoid (stride 4 -> 1).

    ``fused``: the BatchNorms folded into the convolutions' biases, as the PP-OCRv6 weights ship."""

    def __init__(self, in_ch: int, fused: bool = False):
        super().__init__()
        mid = in_ch // 4
        self.conv1 = nn.Conv2D(in_ch, mid, 3, padding=1, bias_attr=None if fused else False)
        self.conv_bn1 = nn.Identity() if fused else nn.BatchNorm2D(mid)
        self.conv2 = nn.Conv2DTranspose(mid, mid, 2, stride=2)
        self.conv_bn2 = nn.Identity() if fused else nn.BatchNorm2D(mid)
        self.conv3 = nn.Conv2DTranspose(mid, 1, 2, stride=2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = F.relu(conv_norm(self.conv1, self.conv_bn1, x))
        x = F.relu(conv_norm(self.conv2, self.conv_bn2, x))
        return F.sigmoid(self.conv3(x))


@register("head", "DBHead")
class DBHead(nn.Layer):
    """Differentiable binarisation. Eval: the probability map N x 1 x H x W; train: ``{"maps": N x 3 x H x W}``,
    probability, threshold and the approximate binary map ``1 / (1 + exp(-k (P - T)))`` on channels.

    The shipped inference weights hold only the probability branch; the threshold branch starts as a copy of it
    (``adapt_weights``), a trained map of where text is, rather than noise.
    """

    def __init__(self, in_channels: int, k: int = 50, fused: bool = False):
        super().__init__()
        self.k = k
        self.binarize = DBBranch(in_channels, fused)
        self.thresh = DBBranch(in_channels, fused)

    def forward(
        self, x: paddle.Tensor, targets: dict[str, paddle.Tensor] | None = None
    ) -> paddle.Tensor | dict[str, paddle.Tensor]:
        shrink = self.binarize(x)
        if not self.training:
            return shrink
        threshold = self.thresh(x)
        binary = F.sigmoid(self.k * (shrink - threshold))
        return {"maps": paddle.concat([shrink, threshold, binary], axis=1)}

    def adapt_weights(
        self, prefix: str, tensors: dict[str, np.ndarray], report: LoadReport, context: LoadContext
    ) -> None:
        """A missing threshold branch starts as a copy of the probability branch.

        Measured against the alternative of starting its output at the inference threshold 0.3 (so the binary map
        begins as the inference binarisation): on ICDAR 2015 (900 train / 100 dev images, batch 8, lr 4e-4,
        frozen BatchNorm) the copy reached dev Hmean 0.525 / 0.532 after 50 / 100 steps, the constant 0.412 / 0.481.
        """
        for key in [prefix + "thresh." + n for n in self.thresh.state_dict()]:
            source = key.replace(prefix + "thresh.", prefix + "binarize.", 1)
            if key not in tensors and source in tensors:
                tensors[key] = tensors[source]
                report.initialised[key] = "copied from the probability (binarize) branch"
