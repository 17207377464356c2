"""The per-channel bias add that convolutions use in training on CPU: the values and gradients of ``x + b``."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from ocrtrain.models.channel_bias import add_channel_bias


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("x_trains", [True, False])
def test_values_and_gradients_are_those_of_the_broadcast_add(dtype, x_trains):
    rng = np.random.default_rng(0)
    x_np, b_np = rng.standard_normal((3, 5, 7, 11)), rng.standard_normal(5)
    upstream = rng.standard_normal((3, 5, 7, 11))
    x = paddle.to_tensor(x_np.astype(dtype), stop_gradient=not x_trains)
    b = paddle.to_tensor(b_np.astype(dtype), stop_gradient=False)
    out = add_channel_bias(x, b)
    paddle.autograd.backward([out], [paddle.to_tensor(upstream.astype(dtype))])
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(
        out.numpy(), x_np.astype(dtype) + b_np.astype(dtype)[None, :, None, None], rtol=0, atol=0
    )
    np.testing.assert_allclose(b.grad.numpy(), upstream.sum(axis=(0, 2, 3)), rtol=tol, atol=tol * 100)
    if x_trains:
        np.testing.assert_array_equal(x.grad.numpy(), upstream.astype(dtype))
    else:
        assert x.grad is None


def test_a_frozen_bias_gets_no_gradient_and_the_input_gets_its_own():
    x = paddle.ones([2, 3, 4, 4])
    x.stop_gradient = False
    b = paddle.to_tensor([1.0, 2.0, 3.0])  # stop_gradient: a frozen layer's bias
    add_channel_bias(x, b).sum().backward()
    assert b.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3, 4, 4), "float32"))


def test_without_gradients_it_is_the_plain_add():
    with paddle.no_grad():
        x, b = paddle.randn([2, 3, 4, 4]), paddle.randn([3])
        np.testing.assert_array_equal(add_channel_bias(x, b).numpy(), (x + b.reshape([1, 3, 1, 1])).numpy())
