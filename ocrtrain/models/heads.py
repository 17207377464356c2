"""Heads: DB (probability + threshold maps) for detection, SVTR + CTC for recognition."""

from __future__ import annotations

import numpy as np
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


class NRTRDecoder(nn.Layer):
    """The GTC branch PaddleOCR trains beside CTC (guided training of CTC): a transformer decoder that reads
    the text autoregressively from the backbone features. Training only: it is not shipped, starts fresh, and is
    not part of the exported model (inference is CTC).

    Classes: 0 padding, 1 unknown, 2 start, 3 end, then the dictionary's characters.
    """

    SPECIAL = 4

    def __init__(self, in_channels: int, num_chars: int, dim: int = 384, layers: int = 4, max_len: int = 27):
        super().__init__()
        self.dim = dim
        self.project = nn.Linear(in_channels, dim, bias_attr=False)
        self.embedding = nn.Embedding(num_chars + self.SPECIAL, dim)
        position = np.arange(max_len + 1, dtype=np.float32)[:, None]
        freq = np.exp(np.arange(0, dim, 2, dtype=np.float32) * (-np.log(10000.0) / dim))
        table = np.zeros((max_len + 1, dim), np.float32)
        table[:, 0::2], table[:, 1::2] = np.sin(position * freq), np.cos(position * freq)
        self.register_buffer("positions", paddle.to_tensor(table), persistable=False)
        layer = nn.TransformerDecoderLayer(dim, dim // 32, dim * 4, dropout=0.1, normalize_before=True)
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(dim))
        self.classifier = nn.Linear(dim, num_chars + self.SPECIAL)

    def forward(self, features: paddle.Tensor, tokens_in: paddle.Tensor) -> paddle.Tensor:
        """``features`` N x C x H x W, ``tokens_in`` N x L (start token first) -> logits N x L x classes."""
        memory = self.project(features.flatten(2).transpose([0, 2, 1]))
        length = tokens_in.shape[1]
        tgt = self.embedding(tokens_in) * (self.dim**0.5) + self.positions[:length]
        causal = paddle.triu(paddle.full([length, length], float("-inf")), diagonal=1)
        return self.classifier(self.decoder(tgt, memory, tgt_mask=causal))
