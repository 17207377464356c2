"""CTC loss for the recognition head (blank = class 0), averaged over the batch as PaddleOCR does."""

from __future__ import annotations

import paddle
import paddle.nn.functional as F

from ocrtrain.components import register


@register("loss", "CTCLoss")
class CTCLoss(paddle.nn.Layer):
    def forward(
        self, logits: paddle.Tensor, labels: paddle.Tensor, label_lengths: paddle.Tensor
    ) -> dict[str, paddle.Tensor]:
        """``logits`` N x T x C (pre-softmax, train mode); ``labels`` N x L int32 padded; ``label_lengths`` N."""
        time_major = logits.transpose([1, 0, 2])  # paddle's ctc_loss takes unnormalised T x N x C scores
        batch, steps = logits.shape[0], logits.shape[1]
        input_lengths = paddle.full([batch], steps, dtype="int64")
        per_sample = F.ctc_loss(
            time_major,
            labels.astype("int32"),
            input_lengths,
            label_lengths.astype("int64"),
            blank=0,
            reduction="none",
        )
        return {"loss": per_sample.mean()}
