"""The C kernel of depthwise convolutions in training (ocrtrain/models/depthwise_conv.py) computes what paddle's
convolution computes: the output and both gradients, for every stride, kernel and padding the PP-OCR backbones use
and for odd sizes where the last taps fall outside the input."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ocrtrain.models import depthwise_conv
from ocrtrain.models.depthwise_conv import conv2d


def test_the_kernel_is_built_by_the_install():
    """`pip install` compiles it (a C compiler is on every supported machine); without it training falls back to
    paddle's kernel, at about half the speed of a rec step, so a silent build failure must show here."""
    assert depthwise_conv.native_available(), (
        "ocrtrain/models/_depthwise_native.c was not built by pip install"
    )


# (N, C, H, W), kernel, stride, padding
CASES = [
    ((2, 8, 24, 40), 3, (1, 1), 1),  # PPLCNetV3 rec, first stages
    ((2, 8, 24, 40), 3, (2, 1), 1),  # rec: down the height only
    ((2, 8, 12, 40), 3, (1, 2), 1),
    ((2, 16, 12, 20), 5, (1, 1), 2),  # rec, last stages
    ((2, 16, 13, 21), 5, (2, 2), 2),  # det: both ways, odd sizes
    ((1, 4, 7, 9), 3, (2, 2), 0),  # no padding
    ((3, 5, 6, 11), 5, (1, 2), (2, 1)),  # a padding per axis
    ((2, 3, 2, 3), 5, (1, 1), 2),  # a kernel larger than the input
]


def run(conv, x_values: np.ndarray, w_values: np.ndarray, grad_values: np.ndarray) -> list[np.ndarray]:
    """The output and the gradients of the input and the filters, given the output's gradient."""
    x = paddle.to_tensor(x_values, stop_gradient=False)
    w = paddle.to_tensor(w_values, stop_gradient=False)
    y = conv(x, w)
    y.backward(paddle.to_tensor(grad_values))
    return [y.numpy(), x.grad.numpy(), w.grad.numpy()]


@pytest.mark.parametrize(("shape", "kernel", "stride", "padding"), CASES)
def test_output_and_gradients_equal_paddles_convolution(shape, kernel, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    w = rng.standard_normal((shape[1], 1, kernel, kernel)).astype("float32")
    channels, (pad_h, pad_w) = shape[1], padding if isinstance(padding, tuple) else (padding, padding)
    out_h = (shape[2] + 2 * pad_h - kernel) // stride[0] + 1
    out_w = (shape[3] + 2 * pad_w - kernel) // stride[1] + 1
    grad = rng.standard_normal((shape[0], channels, out_h, out_w))  # from the output on

    def ours(x, w):
        return conv2d(
            x, w, list(stride), list(padding) if isinstance(padding, tuple) else padding, 1, channels
        )

    def paddles(x, w):
        return F.conv2d(x, w, stride=list(stride), padding=padding, groups=channels)

    got_all = run(ours, x, w, grad.astype("float32"))
    expected_all = run(paddles, x.astype("float64"), w.astype("float64"), grad)  # float64: exact sums
    for name, got, expected in zip(
        ("output", "input gradient", "filter gradient"), got_all, expected_all, strict=True
    ):
        assert got.shape == expected.shape, name
        scale = float(np.abs(expected).max())
        assert float(np.abs(got - expected).max()) <= 2e-6 * scale, name


def ran_the_kernel(y: paddle.Tensor) -> bool:
    return y.grad_fn.name() == "GradNodePyLayer__DepthwiseConv"  # paddle's own is DepthwiseConv2dGradNode


def test_training_convolutions_run_the_kernel_and_others_run_paddles():
    """A depthwise conv needing a gradient on CPU runs the kernel (its gradient node is the kernel's); a dense conv,
    a float64 one and one needing no gradient run paddle's."""
    x = paddle.randn([2, 6, 10, 12])
    x.stop_gradient = False
    depthwise = paddle.randn([6, 1, 3, 3])
    depthwise.stop_gradient = False
    assert ran_the_kernel(conv2d(x, depthwise, 1, 1, 1, 6))
    dense = paddle.randn([4, 6, 3, 3])
    dense.stop_gradient = False
    assert not ran_the_kernel(conv2d(x, dense, 1, 1, 1, 1))
    x64, depthwise64 = x.astype("float64"), depthwise.astype("float64")
    assert not ran_the_kernel(conv2d(x64, depthwise64, 1, 1, 1, 6))
    with paddle.no_grad():
        assert conv2d(x, depthwise, 1, 1, 1, 6).stop_gradient
