"""The C kernels of training on CPU (ocrtrain/models/cpu_kernels.py) compute what paddle's kernels compute: a
depthwise convolution's output and both gradients, for every stride, kernel and padding the PP-OCR backbones use
and for odd sizes where the last taps fall outside the input; hard-swish (and the scalar affine after it) and its
gradients, at its corners too."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ocrtrain.devices import cpu_threads
from ocrtrain.models import cpu_kernels
from ocrtrain.models.depthwise_conv import conv2d
from ocrtrain.models.hardswish import hardswish


def test_the_kernels_are_built_by_the_install():
    """`pip install` compiles them where a C compiler is (CI's machines have one); without them training falls back
    to paddle's kernels, slower but for one warning silent, so a broken build must show here."""
    assert cpu_kernels.available(), "ocrtrain/models/_cpu_kernels.c was not built by pip install"


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


@pytest.mark.parametrize("case", [CASES[0], CASES[4], CASES[6]])
def test_the_result_does_not_depend_on_the_thread_count(case, monkeypatch):
    """The planes are shared out over paddle's intra-op threads (``OMP_NUM_THREADS``): every count, more threads
    than channels too, gives the values of one thread bit for bit."""
    shape, kernel, stride, padding = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype("float32")
    w = rng.standard_normal((shape[1], 1, kernel, kernel)).astype("float32")
    pad = list(padding) if isinstance(padding, tuple) else padding

    def ours(x, w):
        return conv2d(x, w, list(stride), pad, 1, shape[1])

    grad_shape = ours(paddle.to_tensor(x), paddle.to_tensor(w)).shape
    grad = rng.standard_normal(grad_shape).astype("float32")
    by_count = {}
    for threads in (1, 2, 3, 16):
        monkeypatch.setenv("OMP_NUM_THREADS", str(threads))
        assert cpu_threads() == threads
        by_count[threads] = run(ours, x, w, grad)
    for threads in (2, 3, 16):
        for got, expected in zip(by_count[threads], by_count[1], strict=True):
            np.testing.assert_array_equal(got, expected)


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


def hardswish_inputs() -> tuple[np.ndarray, np.ndarray]:
    """Values across the three pieces of hard-swish and at their corners; a gradient for each."""
    values = np.concatenate([np.linspace(-5, 5, 4001), [-3.0, 3.0, -1.5, 0.0, -2.9999998, 2.9999998, 1e-8]])
    values = values.astype("float32").reshape(1, -1)
    return values, np.random.default_rng(0).standard_normal(values.shape).astype("float32")


def test_hardswish_equals_paddles_bit_for_bit():
    values, grads = hardswish_inputs()
    results = []
    for function in (hardswish, F.hardswish):
        x = paddle.to_tensor(values, stop_gradient=False)
        y = function(x)
        y.backward(paddle.to_tensor(grads))
        results.append((y.numpy(), x.grad.numpy(), y.grad_fn.name()))
    (ours, our_grad, our_node), (paddles, paddles_grad, paddles_node) = results
    assert our_node == "GradNodePyLayer__HardSwishAffine" != paddles_node
    np.testing.assert_array_equal(ours, paddles)
    np.testing.assert_array_equal(our_grad, paddles_grad)


def test_hardswish_affine_equals_paddles_ops():
    """``scale * hardswish(x) + bias`` with learnable scalars: the input's gradient bit for bit; the output (one
    fused multiply-add where the CPU has it) and the scalars' gradients (sums in another order) to float32 rounding."""
    values, grads = hardswish_inputs()
    results = []
    for fused in (True, False):
        x = paddle.to_tensor(values, stop_gradient=False)
        scale = paddle.to_tensor([0.7], stop_gradient=False)
        bias = paddle.to_tensor([-0.2], stop_gradient=False)
        y = hardswish(x, scale, bias) if fused else scale * F.hardswish(x) + bias
        y.backward(paddle.to_tensor(grads))
        results.append([y.numpy(), x.grad.numpy(), scale.grad.numpy(), bias.grad.numpy()])
    ours, paddles = results
    np.testing.assert_allclose(ours[0], paddles[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ours[1], paddles[1])
    np.testing.assert_allclose(ours[2], paddles[2], rtol=1e-5)
    np.testing.assert_allclose(ours[3], paddles[3], rtol=1e-5)


def test_without_the_built_kernels_training_runs_paddles_and_warns_once(monkeypatch, caplog):
    """A machine that had no C compiler at install: the same values through paddle's kernels, and one warning."""
    monkeypatch.setattr(cpu_kernels, "native", None)
    monkeypatch.setattr(cpu_kernels, "_fallback_noted", False)
    x = paddle.randn([2, 6, 10, 12])
    x.stop_gradient = False
    depthwise = paddle.randn([6, 1, 3, 3])
    depthwise.stop_gradient = False
    with caplog.at_level("WARNING", logger="ocrtrain.models.cpu_kernels"):
        y = conv2d(x, depthwise, 1, 1, 1, 6)
        z = hardswish(y)
    assert not ran_the_kernel(y)
    assert z.grad_fn.name() != "GradNodePyLayer__HardSwishAffine"
    expected = F.hardswish(F.conv2d(x, depthwise, padding=1, groups=6))
    np.testing.assert_array_equal(z.numpy(), expected.numpy())
    warnings = [r for r in caplog.records if "not built" in r.getMessage()]
    assert len(warnings) == 1
