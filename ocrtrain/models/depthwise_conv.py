"""Depthwise convolutions in training on CPU, by the C kernel of ``cpu_kernels``.

Paddle's CPU kernel for a convolution with one filter per channel (groups = channels) runs at ~2.5 GFLOP/s forward
and backward: half of a PP-OCRv4 rec training step (paddle.profiler, batch 32, one thread: 3.2 of 6.1 s). The C
kernel computes the same sums tap by tap along contiguous rows, vectorised, at 10-20 GFLOP/s. Everything else —
GPU, static graphs (export), float64, no gradient needed, dilation, per-side paddings — takes paddle's ``F.conv2d``,
as does a machine where the kernel could not be built.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle.autograd import PyLayer, PyLayerContext

from ocrtrain.devices import cpu_threads
from ocrtrain.models import cpu_kernels


def _pair(value: int | list[int] | tuple[int, ...]) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    return None  # "SAME", per-side paddings: left to paddle


def _geometry(
    x: paddle.Tensor, weight: paddle.Tensor, stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[int, ...]:
    """(N, C, H, W, kernel h, w, stride h, w, padding h, w, threads): the trailing arguments of every C entry point;
    the planes are shared out over as many threads as paddle's own CPU kernels use."""
    n, c, h, w = x.shape
    return (n, c, h, w, weight.shape[2], weight.shape[3], *stride, *padding, cpu_threads())


class _DepthwiseConv(PyLayer):
    @staticmethod
    def forward(
        ctx: PyLayerContext,
        x: paddle.Tensor,
        weight: paddle.Tensor,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> paddle.Tensor:
        x, weight = x.contiguous(), weight.contiguous()
        geometry = _geometry(x, weight, stride, padding)
        n, c, h, w, kh, kw, sh, sw, ph, pw, _ = geometry
        y = paddle.empty([n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1], dtype=x.dtype)
        cpu_kernels.native.forward(x.data_ptr(), weight.data_ptr(), y.data_ptr(), *geometry)
        ctx.save_for_backward(x, weight)
        ctx.geometry = geometry
        ctx.grad_x, ctx.grad_weight = not x.stop_gradient, not weight.stop_gradient
        return y

    @staticmethod
    def backward(
        ctx: PyLayerContext, grad: paddle.Tensor
    ) -> tuple[paddle.Tensor | None, paddle.Tensor | None]:
        x, weight = ctx.saved_tensor()
        grad = grad.contiguous()
        grad_x = grad_weight = None
        if ctx.grad_x:
            grad_x = paddle.empty(x.shape, dtype=x.dtype)
            cpu_kernels.native.input_grad(
                grad.data_ptr(), weight.data_ptr(), grad_x.data_ptr(), *ctx.geometry
            )
        if ctx.grad_weight:
            grad_weight = paddle.empty(weight.shape, dtype=weight.dtype)
            cpu_kernels.native.weight_grad(
                grad.data_ptr(), x.data_ptr(), grad_weight.data_ptr(), *ctx.geometry
            )
        return grad_x, grad_weight


def conv2d(
    x: paddle.Tensor,
    weight: paddle.Tensor,
    stride: int | list[int],
    padding: int | list[int],
    dilation: int | list[int],
    groups: int,
) -> paddle.Tensor:
    """``F.conv2d`` of an NCHW ``x`` (no bias); a depthwise one on CPU in training runs through the C kernel."""
    stride_pair, padding_pair = _pair(stride), _pair(padding)
    depthwise_on_cpu = (
        paddle.in_dynamic_mode()
        and x.place.is_cpu_place()
        and x.ndim == 4
        and groups > 1
        and groups == x.shape[1] == weight.shape[0]
        and weight.shape[1] == 1
        and x.dtype == weight.dtype == paddle.float32
        and _pair(dilation) == (1, 1)
        and stride_pair is not None
        and padding_pair is not None
        and not (x.stop_gradient and weight.stop_gradient)
    )
    if depthwise_on_cpu and cpu_kernels.available():
        return _DepthwiseConv.apply(x, weight, stride_pair, padding_pair)
    if depthwise_on_cpu:
        cpu_kernels.note_fallback()
    return F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
