"""Heads: DB (probability + threshold maps) for detection, SVTR + CTC for recognition."""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn


class DBBranch(nn.Layer):
    """3x3 conv -> BN-ReLU -> 2x up-conv -> BN-ReLU -> 2x up-conv to one channel -> sigmoid (stride 4 -> 1)."""

    def __init__(self, in_ch: int):
        super().__init__()
        mid = in_ch // 4
        self.conv1 = nn.Conv2D(in_ch, mid, 3, padding=1, bias_attr=False)
        self.conv_bn1 = nn.BatchNorm2D(mid)
        self.conv2 = nn.Conv2DTranspose(mid, mid, 2, stride=2)
        self.conv_bn2 = nn.BatchNorm2D(mid)
        self.conv3 = nn.Conv2DTranspose(mid, 1, 2, stride=2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = F.relu(self.conv_bn1(self.conv1(x)))
        x = F.relu(self.conv_bn2(self.conv2(x)))
        return F.sigmoid(self.conv3(x))


class DBHead(nn.Layer):
    """Differentiable binarisation. Eval: ``{"maps": probability}``; train: probability, threshold and the
    approximate binary map ``1 / (1 + exp(-k (P - T)))`` concatenated on channels.

    The shipped inference weights hold only the probability branch; the threshold branch starts as a copy of it
    (see ``ocrtrain.models.builder.load_pretrained``), a trained map of where text is, rather than noise.
    """

    def __init__(self, in_channels: int, k: int = 50):
        super().__init__()
        self.k = k
        self.binarize = DBBranch(in_channels)
        self.thresh = DBBranch(in_channels)

    def forward(self, x: paddle.Tensor) -> dict[str, paddle.Tensor]:
        shrink = self.binarize(x)
        if not self.training:
            return {"maps": shrink}
        threshold = self.thresh(x)
        binary = F.sigmoid(self.k * (shrink - threshold))
        return {"maps": paddle.concat([shrink, threshold, binary], axis=1)}


class _Wrap(nn.Layer):
    """Holds one sublayer under a given attribute name (mirrors PaddleOCR's parameter names)."""

    def __init__(self, name: str, layer: nn.Layer):
        super().__init__()
        self._name = name
        setattr(self, name, layer)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return getattr(self, self._name)(x)


class CTCRecHead(nn.Layer):
    """SVTR sequence encoder + linear CTC classifier (PaddleOCR's MultiHead, CTC branch only).

    Train mode returns logits N x T x C; eval mode softmax probabilities, as the shipped inference model does.
    """

    def __init__(self, in_channels: int, num_classes: int, encoder: dict):
        from ocrtrain.models.necks import SVTREncoder

        super().__init__()
        self.ctc_encoder = _Wrap("encoder", SVTREncoder(in_channels, **encoder))
        self.ctc_head = _Wrap("fc", nn.Linear(self.ctc_encoder.encoder.out_channels, num_classes))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        logits = self.ctc_head(self.ctc_encoder(x))
        return logits if self.training else F.softmax(logits, axis=2)
