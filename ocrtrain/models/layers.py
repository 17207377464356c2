"""Layers that several components share (not components themselves)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn
from paddle.nn.initializer import Constant

from ocrtrain.models.channel_bias import add_channel_bias
from ocrtrain.models.depthwise_conv import conv2d
from ocrtrain.models.hardswish import hardswish

if TYPE_CHECKING:
    from ocrtrain.models.loading import LoadContext, LoadReport

# paddle's default, which PaddleOCR's branches keep (a checkpoint does not store it)
BATCH_NORM_EPSILON = 1e-5


def make_divisible(value: float, divisor: int = 16) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ScaleBias(nn.Layer):
    """A learnable scalar affine ``scale * x + bias`` (PaddleOCR's LearnableAffineBlock)."""

    def __init__(self, scale_name: str = "scale", bias_name: str = "bias") -> None:
        super().__init__()
        self._names = (scale_name, bias_name)
        setattr(self, scale_name, self.create_parameter([1], default_initializer=Constant(1.0)))
        setattr(self, bias_name, self.create_parameter([1], default_initializer=Constant(0.0)))

    def affine(self) -> tuple[paddle.Tensor, paddle.Tensor]:
        return getattr(self, self._names[0]), getattr(self, self._names[1])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        scale, bias = self.affine()
        return scale * x + bias


def conv_affine(
    conv: nn.Conv2D | nn.Conv2DTranspose,
    x: paddle.Tensor,
    scale: paddle.Tensor,
    shift: paddle.Tensor,
    input_affine: tuple[paddle.Tensor, paddle.Tensor] | None = None,
) -> paddle.Tensor:
    """``scale * conv(x) + shift`` (per output channel or scalar) in training as one convolution with weight
    ``scale * W`` and bias ``scale * b + shift``: weight-sized work per step instead of two passes over the
    activation forward and more backward, the same function and gradients (checked in float64). The bias is added
    by ``add_channel_bias`` (on CPU ~5x cheaper than the broadcast add a biased conv does). Eval mode, and so
    export, keeps the two-step form the shipped programs have; in float32 the folded form rounds in another order
    (relative 1e-7 per layer).

    ``input_affine``: ``(s, t)``, a scalar affine ``s * x + t`` applied to ``x`` first, for an unpadded 1 x 1 conv (where
    ``W (s x + t) = s W x + t W 1`` holds at every pixel): folded in as weight ``s W`` and bias ``t`` times W's row sums.
    """
    if not conv.training:
        return scale * conv(x if input_affine is None else input_affine[0] * x + input_affine[1]) + shift
    transposed = isinstance(conv, nn.Conv2DTranspose)  # weight: in x out/groups x kh x kw
    weight, bias = conv.weight, conv.bias
    if input_affine is not None:
        if list(conv._kernel_size) != [1, 1] or transposed:
            raise ValueError("conv_affine: an input affine folds into 1 x 1 convolutions only")
        in_scale, in_shift = input_affine
        row_sums = weight.sum(axis=[1, 2, 3]) * in_shift
        bias = row_sums if bias is None else bias + row_sums
        weight = weight * in_scale
    weight = weight * scale.reshape([1, -1, 1, 1] if transposed else [-1, 1, 1, 1])
    bias = shift if bias is None else bias * scale + shift
    channels = weight.shape[1] * conv._groups if transposed else weight.shape[0]
    if bias.shape[0] != channels:  # scalar affine
        bias = bias.expand([channels])
    common = {"stride": conv._stride, "dilation": conv._dilation, "groups": conv._groups}
    if conv._data_format != "NCHW":
        raise ValueError(f"conv_affine: data_format {conv._data_format}: NCHW only")
    if transposed:
        out = F.conv2d_transpose(
            x, weight, padding=conv._padding, output_padding=conv.output_padding, **common
        )
    else:
        out = conv2d(x, weight, conv._stride, conv._padding, conv._dilation, conv._groups)
    return add_channel_bias(out, bias)


def conv_norm(conv: nn.Conv2D | nn.Conv2DTranspose, norm: nn.Layer, x: paddle.Tensor) -> paddle.Tensor:
    """``norm(conv(x))``; a BatchNorm in eval mode (frozen, ``trainer.freeze_norm``) is the per-channel affine of its
    running statistics, folded into the convolution in training (``conv_affine``). Its statistics get no gradient.
    A BatchNorm built with ``use_global_stats=False`` normalises by the batch's statistics in either mode."""
    frozen = isinstance(norm, nn.BatchNorm2D) and not norm.training and norm._use_global_stats is not False
    if not (conv.training and frozen):
        return norm(conv(x))
    scale = norm.weight * paddle.rsqrt(norm._variance + norm._epsilon)
    return conv_affine(conv, x, scale, norm.bias - norm._mean * scale)


class HardSwishAffine(ScaleBias):
    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return hardswish(x, *self.affine())


class FusedRepLayer(nn.Layer):
    """conv(+bias) -> learnable affine (w, b) -> [hard-swish -> learnable affine] unless the stride is 2."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int | tuple[int, int] = 1, groups: int = 1
    ) -> None:
        super().__init__()
        self.reparam_conv = nn.Conv2D(in_ch, out_ch, kernel, stride, padding=(kernel - 1) // 2, groups=groups)
        self.w = self.create_parameter([1], default_initializer=Constant(1.0))
        self.b = self.create_parameter([1], default_initializer=Constant(0.0))
        self.has_activation = stride != 2
        if self.has_activation:
            self.activation = HardSwishAffine()

    def forward(
        self, x: paddle.Tensor, input_affine: tuple[paddle.Tensor, paddle.Tensor] | None = None
    ) -> paddle.Tensor:
        """``input_affine``: the previous layer's trailing affine ``(s, t)``, left to this layer to fold (1 x 1)."""
        out = conv_affine(self.reparam_conv, x, self.w, self.b, input_affine)
        return self.activation(out) if self.has_activation else out

    def without_trailing_affine(self, x: paddle.Tensor) -> paddle.Tensor:
        """The forward up to the hard-swish: the caller passes ``activation.affine()`` on to the next layer."""
        return hardswish(conv_affine(self.reparam_conv, x, self.w, self.b))

    def adapt_weights(
        self, prefix: str, tensors: dict[str, np.ndarray], report: LoadReport, context: LoadContext
    ) -> None:
        """Take this layer as PaddleOCR's trainer saves it (``best_accuracy.pdparams``): parallel branches, each a
        convolution and a BatchNorm (``conv_kxk.<i>``, ``conv_1x1``; ``identity`` a BatchNorm alone), summed, then
        the affines ``lab`` and ``act.lab``. In eval mode the branches are one linear map of the input, folded here
        into ``reparam_conv``: each BatchNorm into its kernel and bias, the 1 x 1 kernel padded to k x k, the
        identity as a kernel of ones at the centre."""
        affines = {
            "lab.scale": "w",
            "lab.bias": "b",
            "act.lab.scale": "activation.scale",
            "act.lab.bias": "activation.bias",
        }
        for theirs, ours in affines.items():
            if prefix + theirs in tensors and prefix + ours not in tensors:
                value = tensors.pop(prefix + theirs)
                if self.has_activation or not ours.startswith("activation."):  # stride 2: built, never used
                    tensors[prefix + ours] = value
        if f"{prefix}conv_kxk.0.conv.weight" not in tensors or f"{prefix}reparam_conv.weight" in tensors:
            return
        out_ch, in_per_group, k, _ = self.reparam_conv.weight.shape
        branches = []  # (k x k kernel, the BatchNorm after it)
        convs = []
        while f"{prefix}conv_kxk.{len(convs)}.conv.weight" in tensors:
            convs.append(f"{prefix}conv_kxk.{len(convs)}.")
        if f"{prefix}conv_1x1.conv.weight" in tensors:
            convs.append(f"{prefix}conv_1x1.")
        for conv in convs:
            branch_kernel = tensors.pop(conv + "conv.weight").astype(np.float32)
            pad = (k - branch_kernel.shape[-1]) // 2
            branches.append((np.pad(branch_kernel, [(0, 0), (0, 0), (pad, pad), (pad, pad)]), conv + "bn."))
        if f"{prefix}identity.weight" in tensors:
            # out == in here: channel c reads input c (of its group)
            identity = np.zeros((out_ch, in_per_group, k, k), np.float32)
            identity[np.arange(out_ch), np.arange(out_ch) % in_per_group, k // 2, k // 2] = 1.0
            branches.append((identity, f"{prefix}identity."))
        kernel = np.zeros((out_ch, in_per_group, k, k), np.float32)
        bias = np.zeros(out_ch, np.float32)
        for branch_kernel, norm in branches:
            gamma, beta, mean, var = (tensors.pop(norm + n) for n in ("weight", "bias", "_mean", "_variance"))
            scale = gamma / np.sqrt(var + BATCH_NORM_EPSILON)
            kernel += branch_kernel * scale.reshape(-1, 1, 1, 1)
            bias += beta - mean * scale
        tensors[f"{prefix}reparam_conv.weight"], tensors[f"{prefix}reparam_conv.bias"] = kernel, bias
        report.folded.append(prefix.rstrip("."))


def spatial_mean(x: paddle.Tensor) -> paddle.Tensor:
    """N x C x H x W -> N x C x 1 x 1 means, as a matrix product with a 1/(H W) vector.

    Float32 average pooling (and reduce_mean) over a large map sums sequentially and loses enough precision to move
    the PP-OCRv6 tiny probability map by 6e-4 against ONNX Runtime; the matrix product accumulates like a BLAS dot
    (5e-7 relative to float64). Exported programs keep it on oneDNN; a two-step reduce_mean, as precise, falls back
    and made v6 tiny det 3-4x slower.
    """
    flat = x.flatten(2)
    weights = paddle.ones_like(flat[:1, :1, :]).transpose([0, 2, 1])
    return paddle.matmul(flat, weights / weights.sum()).unsqueeze(-1)


def log_softmax(x: paddle.Tensor) -> paddle.Tensor:
    """``log_softmax`` over the last axis as ``x - logsumexp(x)``: the same values (to float32 rounding), but paddle's
    own CPU kernel takes ~6 s forward and ~6 s backward over a recogniser's 32 x 40 x 6,625 outputs, this ~0.2 s in all.
    """
    return x - paddle.logsumexp(x, axis=-1, keepdim=True)


class SqueezeExcite(nn.Layer):
    """Channel attention: global average -> 1x1 (c/4) -> ReLU -> 1x1 (c) -> hard-sigmoid -> rescale."""

    def __init__(self, channels: int, reduction: int = 4, hardsigmoid_slope: float = 1 / 6) -> None:
        super().__init__()
        self.conv1 = nn.Conv2D(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2D(channels // reduction, channels, 1)
        self.slope = hardsigmoid_slope

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        attention = F.relu(self.conv1(spatial_mean(x)))
        return x * F.hardsigmoid(self.conv2(attention), slope=self.slope, offset=0.5)


class ConvBN(nn.Layer):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2D(in_ch, out_ch, kernel, stride, padding=(kernel - 1) // 2, bias_attr=False)
        self.bn = nn.BatchNorm2D(out_ch)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return conv_norm(self.conv, self.bn, x)


def upsample_nearest(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """Nearest-neighbour upsampling by an integer factor, written with tile + reshape.

    Same values as ``F.upsample(mode="nearest")``, but exported programs then run with oneDNN on CPU: paddle 3.3's
    oneDNN executor cannot take the interpolate op's float-list attribute.
    """
    if factor == 1:
        return x
    n, c, h, w = paddle.shape(x)[0], paddle.shape(x)[1], paddle.shape(x)[2], paddle.shape(x)[3]
    tiled = x.unsqueeze([3, 5]).tile([1, 1, 1, factor, 1, factor])
    return tiled.reshape(paddle.stack([n, c, h * factor, w * factor]))


class ConvBNSwish(nn.Layer):
    def __init__(self, in_ch: int, out_ch: int, kernel: tuple[int, int] = (1, 1), groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2D(
            in_ch, out_ch, kernel, padding=(kernel[0] // 2, kernel[1] // 2), groups=groups, bias_attr=False
        )
        self.norm = nn.BatchNorm2D(out_ch)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return F.swish(conv_norm(self.conv, self.norm, x))
