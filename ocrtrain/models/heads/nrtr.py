"""The NRTR decoder PaddleOCR trains beside CTC (GTC, guided training of CTC)."""

from __future__ import annotations

import numpy as np
import paddle
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.loading import LoadContext, LoadReport


@register("head", "NRTRHead")
class NRTRHead(nn.Layer):
    """The GTC branch PaddleOCR trains beside CTC (guided training of CTC): a transformer decoder that reads
    the text autoregressively from the backbone features. Training only: it is not shipped, starts fresh, and is
    not part of the exported model (inference is CTC).

    Classes: 0 padding, 1 unknown, 2 start, 3 end, then the dictionary's characters.
    """

    SPECIAL = 4

    def __init__(
        self, in_channels: int, num_classes: int, dim: int = 384, layers: int = 4, max_text_length: int = 25
    ) -> None:
        """``num_classes``: the CTC classes (blank + dictionary); ``max_text_length`` characters between start and end."""
        super().__init__()
        num_chars, max_len = num_classes - 1, max_text_length + 2
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

    def adapt_weights(
        self, prefix: str, tensors: dict[str, np.ndarray], report: LoadReport, context: LoadContext
    ) -> None:
        for name in self.state_dict():
            if prefix + name not in tensors:
                report.initialised[prefix + name] = (
                    "fresh: the GTC (NRTR) branch is not shipped, it trains from scratch"
                )
