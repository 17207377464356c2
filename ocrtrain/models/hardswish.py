"""Hard-swish in training on CPU with its gradient from the C kernel of ``cpu_kernels``.

Paddle's CPU hard-swish gradient takes ~7x its forward (0.4 s of a 6 s PP-OCRv4 rec step at batch 32); the C kernel
computes the same slope (0 below -3, (2x + 3) / 6 between, 1 from 3 on) in paddle's order of operations, in one
vectorised pass. The forward stays paddle's. GPU, static graphs, other dtypes and no gradient: ``F.hardswish``.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle.autograd import PyLayer

from ocrtrain.models import cpu_kernels


class _HardSwish(PyLayer):
    @staticmethod
    def forward(ctx, x: paddle.Tensor) -> paddle.Tensor:
        x = x.contiguous()
        ctx.save_for_backward(x)
        return F.hardswish(x)

    @staticmethod
    def backward(ctx, grad: paddle.Tensor) -> paddle.Tensor:
        (x,) = ctx.saved_tensor()
        grad = grad.contiguous()
        grad_x = paddle.empty(x.shape, dtype=x.dtype)
        cpu_kernels.native.hardswish_grad(x.data_ptr(), grad.data_ptr(), grad_x.data_ptr(), x.size)
        return grad_x


def hardswish(x: paddle.Tensor) -> paddle.Tensor:
    """``F.hardswish(x)``; on CPU in training with its gradient from the C kernel."""
    on_cpu_in_training = (
        paddle.in_dynamic_mode()
        and x.place.is_cpu_place()
        and x.dtype == paddle.float32
        and not x.stop_gradient
    )
    if on_cpu_in_training and cpu_kernels.available():
        return _HardSwish.apply(x)
    if on_cpu_in_training:
        cpu_kernels.note_fallback()
    return F.hardswish(x)
