"""The CTC loss on real logits."""

from __future__ import annotations

import numpy as np
import paddle

from ocrtrain.losses.ctc_loss import CTCLoss


def test_ctc_loss_prefers_logits_that_spell_the_label():
    labels = paddle.to_tensor([[3, 5, 5, 0]], dtype="int32")  # "x y y" with a repeat, padded
    lengths = paddle.to_tensor([3], dtype="int64")
    spelled = np.full((1, 8, 10), -5.0, np.float32)
    for t, cls in enumerate([3, 3, 0, 5, 0, 5, 0, 0]):  # a valid CTC path: repeats separated by blanks
        spelled[0, t, cls] = 5.0
    random = np.random.default_rng(0).normal(size=(1, 8, 10)).astype(np.float32)
    loss = CTCLoss()
    good = float(loss(paddle.to_tensor(spelled), labels, lengths)["loss"])
    bad = float(loss(paddle.to_tensor(random), labels, lengths)["loss"])
    assert np.isfinite(good) and good < 1.0 < bad
