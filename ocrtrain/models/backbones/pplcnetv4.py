"""PPLCNetV4 (PP-OCRv6 det and rec backbones) in its fused form, the form the PP-OCRv6 weights ship in (ONNX).

PaddleOCR trains this network with a BatchNorm after every convolution and a three-branch re-parameterisable
depthwise convolution (k x k + 1 x 1 + identity, then BatchNorm), fused into one convolution with bias for
inference. Only the fused weights ship, and they cannot be split back into branches with batch statistics: an
expanded block would normalise with batch statistics in train mode and compute another function than the shipped
one from the first step (the expansion trap). So each of those layers trains as what it is at inference, one
convolution with bias, as PPLCNetV3 does for PP-OCRv4: train and eval mode compute the same function. (The rec tiny
stem is shipped with explicit BatchNorms and keeps them; training's ``freeze_norm`` keeps their statistics.)
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.layers import ConvBN, SqueezeExcite

# (kernel, in, out, stride, use_se) per block
STAGES = {
    ("det", "tiny"): {
        "blocks_s1": [(3, 32, 32, 1, True), (3, 32, 32, 1, False)],
        "blocks_s2": [(3, 32, 48, 2, False), (3, 48, 48, 1, True), (3, 48, 48, 1, False)],
        "blocks_s3": [(3, 48, 64, 2, False)] + [(3, 64, 64, 1, True), (3, 64, 64, 1, False)] * 2,
        "blocks_s4": [(3, 64, 160, 2, False), (3, 160, 160, 1, True), (3, 160, 160, 1, False)],
    },
    ("det", "small"): {
        "blocks_s1": [(3, 48, 48, 1, True), (3, 48, 48, 1, False)],
        "blocks_s2": [(3, 48, 96, 2, False), (3, 96, 96, 1, True), (3, 96, 96, 1, False)],
        "blocks_s3": [(3, 96, 192, 2, False)] + [(3, 192, 192, 1, True), (3, 192, 192, 1, False)] * 2,
        "blocks_s4": [(3, 192, 384, 2, False), (3, 384, 384, 1, True), (3, 384, 384, 1, False)],
    },
    # recognition halves the height only, keeping the width resolution for the sequence
    ("rec", "tiny"): {
        "blocks2": [(3, 48, 48, 1, True)],
        "blocks3": [(3, 48, 48, 1, False)],
        "blocks4": [(3, 48, 96, (2, 1), False), (3, 96, 96, 1, True), (3, 96, 96, 1, False)],
        "blocks5": [(3, 96, 160, (2, 1), False), (3, 160, 160, 1, True)] + [(3, 160, 160, 1, False)] * 2,
    },
    ("rec", "small"): {
        "blocks2": [(3, 96, 96, 1, True)],
        "blocks3": [(3, 96, 96, 1, False)] * 2,
        "blocks4": [(3, 96, 192, (2, 1), False)] + [(3, 192, 192, 1, True), (3, 192, 192, 1, False)] * 3,
        "blocks5": [(3, 192, 384, (2, 1), False), (3, 384, 384, 1, True), (3, 384, 384, 1, False)],
    },
}
# (stem mid channels, stem out channels, stem kind)
STEMS = {
    ("det", "tiny"): (16, 32, "branch"),
    ("det", "small"): (24, 48, "branch"),
    ("rec", "tiny"): (24, 48, "plain"),
    ("rec", "small"): (48, 96, "branch"),
}


class BranchStem(nn.Layer):
    """Stride 4: 3x3/2 conv, then a max-pool branch beside two 2x2 convs, concatenated, 3x3/2 conv, 1x1 conv;
    ReLU after every conv. The 2x2 convs and the pool pad one pixel at the bottom and right (ONNX SAME_UPPER)."""

    def __init__(self, mid: int, out: int) -> None:
        super().__init__()
        same = [0, 1, 0, 1]
        self.stem1 = nn.Conv2D(3, mid, 3, 2, padding=1)
        self.stem2a = nn.Conv2D(mid, mid // 2, 2, 1, padding=same)
        self.stem2b = nn.Conv2D(mid // 2, mid, 2, 1, padding=same)
        self.stem3 = nn.Conv2D(2 * mid, mid, 3, 2, padding=1)
        self.stem4 = nn.Conv2D(mid, out, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = F.relu(self.stem1(x))
        branch = F.relu(self.stem2b(F.relu(self.stem2a(x))))
        pooled = F.max_pool2d(F.pad(x, [0, 1, 0, 1]), 2, 1)  # x >= 0 after ReLU: zero padding = -inf padding
        return F.relu(self.stem4(F.relu(self.stem3(paddle.concat([pooled, branch], axis=1)))))


class PlainStem(nn.Layer):
    """Stride 4: 3x3/2 conv-BN, GELU, 3x3/2 conv-BN (no activation)."""

    def __init__(self, mid: int, out: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(3, mid, 3, 2)
        self.conv2 = ConvBN(mid, out, 3, 2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.conv2(F.gelu(self.conv1(x)))


class LCNetV4Block(nn.Layer):
    """Token mixer: depthwise conv (+ squeeze-excite); channel mixer: 1x1 expand -> GELU -> 1x1 compress, added to
    the token mixer's output when the block keeps the shape."""

    def __init__(
        self,
        kernel: int,
        in_ch: int,
        out_ch: int,
        stride: int | tuple[int, int],
        use_se: bool,
        expand_ratio: int = 2,
    ) -> None:
        super().__init__()
        self.dw_conv = nn.Conv2D(in_ch, in_ch, kernel, stride, padding=(kernel - 1) // 2, groups=in_ch)
        self.se = SqueezeExcite(in_ch) if use_se else None
        self.expand = nn.Conv2D(in_ch, in_ch * expand_ratio, 1)
        self.compress = nn.Conv2D(in_ch * expand_ratio, out_ch, 1)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.dw_conv(x)
        if self.se is not None:
            x = self.se(x)
        mixed = self.compress(F.gelu(self.expand(x)))
        return x + mixed if self.residual else mixed


@register("backbone", "PPLCNetV4")
class PPLCNetV4(nn.Layer):
    """``det=True``: four feature maps (strides 4, 8, 16, 32); ``det=False``: the recognition variant, a
    1 x W/8 feature sequence (average-pooled 3 x 2, as at inference). ``model_size``: tiny or small."""

    def __init__(self, model_size: str = "small", det: bool = False) -> None:
        super().__init__()
        key = ("det" if det else "rec", model_size)
        if key not in STAGES:
            sizes = sorted({size for task, size in STAGES if task == key[0]})
            raise ValueError(f"PPLCNetV4: unknown {key[0]} model_size {model_size!r}; known: {sizes}")
        self.det = det
        mid, out, stem = STEMS[key]
        self.stem = BranchStem(mid, out) if stem == "branch" else PlainStem(mid, out)
        self.stage_names = list(STAGES[key])
        for name, blocks in STAGES[key].items():
            setattr(self, name, nn.Sequential(*[LCNetV4Block(*block) for block in blocks]))
        stage_out = [STAGES[key][name][-1][2] for name in self.stage_names]
        self.out_channels = stage_out if det else stage_out[-1]

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor] | paddle.Tensor:
        x = self.stem(x)
        features = []
        for name in self.stage_names:
            x = getattr(self, name)(x)
            features.append(x)
        if self.det:
            return features
        return F.avg_pool2d(x, [3, 2])
