"""Hard-swish, alone or followed by a learnable scalar affine, in training on CPU through the C kernels of
``cpu_kernels``.

Paddle's CPU hard-swish gradient takes ~7x its forward (0.4 s of a 6 s PP-OCRv4 rec step at batch 32), and the
scalar affine after it (``scale * h + bias``, PPLCNetV3's learnable affine) goes through paddle's broadcasting
multiply and add, whose gradients reduce over the whole activation. One C pass computes the forward, one the
backward with both scalars' gradients, in paddle's order of operations: the activation and its gradient bit
for bit, the affine to float32 rounding. GPU, static graphs (export), other dtypes and no gradient: paddle's ops.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle.autograd import PyLayer, PyLayerContext

from ocrtrain.models import cpu_kernels


class _HardSwishAffine(PyLayer):
    @staticmethod
    def forward(
        ctx: PyLayerContext,
        x: paddle.Tensor,
        scale: paddle.Tensor | None = None,
        bias: paddle.Tensor | None = None,
    ) -> paddle.Tensor:
        x = x.contiguous()
        affine = scale is not None
        scale_value, bias_value = (scale.item(), bias.item()) if affine else (1.0, 0.0)
        y = paddle.empty(x.shape, dtype=x.dtype)
        cpu_kernels.native.hardswish_affine(
            x.data_ptr(), y.data_ptr(), x.size, affine, scale_value, bias_value
        )
        ctx.save_for_backward(x)
        ctx.affine, ctx.scale = affine, scale_value
        ctx.trained = (not scale.stop_gradient, not bias.stop_gradient) if affine else None
        return y

    @staticmethod
    def backward(ctx: PyLayerContext, grad: paddle.Tensor) -> paddle.Tensor | tuple[paddle.Tensor, ...]:
        (x,) = ctx.saved_tensor()
        grad = grad.contiguous()
        grad_x = paddle.empty(x.shape, dtype=x.dtype)
        sum_grad_h, sum_grad = cpu_kernels.native.hardswish_affine_grad(
            x.data_ptr(), grad.data_ptr(), grad_x.data_ptr(), x.size, ctx.affine, ctx.scale
        )
        if not ctx.affine:
            return grad_x
        scale_trained, bias_trained = ctx.trained
        grad_scale = paddle.to_tensor([sum_grad_h], x.dtype) if scale_trained else None
        grad_bias = paddle.to_tensor([sum_grad], x.dtype) if bias_trained else None
        return grad_x, grad_scale, grad_bias


def hardswish(
    x: paddle.Tensor, scale: paddle.Tensor | None = None, bias: paddle.Tensor | None = None
) -> paddle.Tensor:
    """``F.hardswish(x)``, or ``scale * F.hardswish(x) + bias`` with a one-element ``scale`` and ``bias``."""
    if (
        paddle.in_dynamic_mode()
        and x.place.is_cpu_place()
        and x.dtype == paddle.float32
        and not x.stop_gradient
    ):
        if cpu_kernels.available():
            return _HardSwishAffine.apply(x, scale, bias)
        cpu_kernels.note_fallback()
    activation = F.hardswish(x)
    return activation if scale is None else scale * activation + bias
