"""The GTC branch's loss: next-token cross-entropy of the NRTR decoder, with label smoothing as PaddleOCR uses."""

from __future__ import annotations

import numpy as np
import paddle

from ocrtrain.components import register
from ocrtrain.models.layers import log_softmax

PAD, START, END = 0, 2, 3
CHAR_OFFSET = 3  # CTC class k (1-based, 0 = blank) is NRTR class k + 3, after pad, unknown, start and end


def nrtr_tokens(labels: np.ndarray, lengths: np.ndarray, max_len: int) -> np.ndarray:
    """CTC labels (N x L class ids, padded) -> ``start, chars..., end`` token rows padded to ``max_len``."""
    tokens = np.full((len(labels), max_len), PAD, np.int64)
    for row, (label, length) in enumerate(zip(labels, lengths, strict=True)):
        ids = np.asarray(label[: int(length)], np.int64) + CHAR_OFFSET
        tokens[row, : len(ids) + 2] = [START, *ids, END]
    return tokens


@register("loss", "NRTRLoss")
class NRTRLoss(paddle.nn.Layer):
    def __init__(self, smoothing: float = 0.1) -> None:
        super().__init__()
        self.smoothing = smoothing

    def forward(self, logits: paddle.Tensor, targets: paddle.Tensor) -> paddle.Tensor:
        """``logits`` N x L x C for the next token of each position, ``targets`` N x L (padding is ignored)."""
        log_probs = log_softmax(logits)
        nll = -paddle.take_along_axis(log_probs, targets.unsqueeze(-1), axis=-1).squeeze(-1)
        per_token = (1 - self.smoothing) * nll - self.smoothing * log_probs.mean(axis=-1)
        mask = (targets != PAD).astype(per_token.dtype)
        return (per_token * mask).sum() / mask.sum().clip(min=1)
