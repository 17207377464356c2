"""Shared layers' arithmetic against its definition."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F

from ocrtrain.models.layers import log_softmax


def test_log_softmax_is_exact_on_large_logits_and_has_paddles_gradient():
    x = np.random.default_rng(0).normal(scale=4.0, size=(3, 5, 11)).astype(np.float32)
    extreme = x.copy()
    extreme[0, 0, 0] = (
        1e4  # exp() of it overflows float32 (paddle's own kernel returns -64 for the others here)
    )
    exact = extreme.astype(np.float64) - np.log(
        np.exp(extreme - extreme.max(-1, keepdims=True)).sum(-1, keepdims=True)
    )
    exact -= extreme.max(-1, keepdims=True)
    np.testing.assert_allclose(log_softmax(paddle.to_tensor(extreme)).numpy(), exact, rtol=1e-6, atol=1e-4)

    ours, theirs = paddle.to_tensor(x, stop_gradient=False), paddle.to_tensor(x, stop_gradient=False)
    weights = paddle.to_tensor(np.random.default_rng(1).normal(size=x.shape).astype(np.float32))
    (log_softmax(ours) * weights).sum().backward()
    (F.log_softmax(theirs, axis=-1) * weights).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-5)
