"""PPLCNetV3 in its re-parameterised (fused) form, the form the PP-OCRv4 mobile weights ship in.

Each learnable re-parameterisable layer is trained as what it is at inference: one conv with bias, a learnable
affine (``w * y + b``), then (unless it downsamples) hard-swish followed by a second learnable affine. Training
this fused form keeps the pretrained function in train and eval mode alike: there are no "identity" BatchNorms
that would normalise with batch statistics and wreck the pretrained features on the first step.
Parameter names equal the training names of the shipped weights, so loading is a join on names.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.layers import ConvBN, FusedRepLayer, SqueezeExcite, make_divisible

# stage: (kernel, in, out, stride, use_se) per block, before width scaling
STAGES_DET = {
    "blocks2": [(3, 16, 32, 1, False)],
    "blocks3": [(3, 32, 64, 2, False), (3, 64, 64, 1, False)],
    "blocks4": [(3, 64, 128, 2, False), (3, 128, 128, 1, False)],
    "blocks5": [(3, 128, 256, 2, False)] + [(5, 256, 256, 1, False)] * 4,
    "blocks6": [
        (5, 256, 512, 2, True),
        (5, 512, 512, 1, True),
        (5, 512, 512, 1, False),
        (5, 512, 512, 1, False),
    ],
}
# recognition keeps the width resolution longer: strides are (h, w)
STAGES_REC = {
    "blocks2": [(3, 16, 32, 1, False)],
    "blocks3": [(3, 32, 64, 1, False), (3, 64, 64, 1, False)],
    "blocks4": [(3, 64, 128, (2, 1), False), (3, 128, 128, 1, False)],
    "blocks5": [(3, 128, 256, (1, 2), False)] + [(5, 256, 256, 1, False)] * 4,
    "blocks6": [
        (5, 256, 512, (2, 1), True),
        (5, 512, 512, 1, True),
        (5, 512, 512, (2, 1), False),
        (5, 512, 512, 1, False),
    ],
}
DET_OUT_CHANNELS = [16, 24, 56, 480]  # the 1x1 projections of the four detection outputs, before scaling


class LCNetV3Block(nn.Layer):
    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int | tuple[int, int], use_se: bool
    ) -> None:
        super().__init__()
        self.dw_conv = FusedRepLayer(in_ch, in_ch, kernel, stride, groups=in_ch)
        self.se = SqueezeExcite(in_ch) if use_se else None
        self.pw_conv = FusedRepLayer(in_ch, out_ch, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.training and self.se is None and self.dw_conv.has_activation:
            # in training the depthwise layer's trailing affine folds into the 1 x 1 pointwise conv
            hidden = self.dw_conv.without_trailing_affine(x)
            return self.pw_conv(hidden, input_affine=self.dw_conv.activation.affine())
        x = self.dw_conv(x)
        if self.se is not None:
            x = self.se(x)
        return self.pw_conv(x)


@register("backbone", "PPLCNetV3")
class PPLCNetV3(nn.Layer):
    """``det=True``: four feature maps (strides 4, 8, 16, 32) projected to 12/18/42/360 channels at scale 0.75.
    ``det=False``: the recognition variant, a 1 x W/8 feature sequence (average-pooled 3 x 2)."""

    def __init__(self, scale: float = 1.0, det: bool = False) -> None:
        super().__init__()
        self.det = det
        stages = STAGES_DET if det else STAGES_REC
        self.conv1 = ConvBN(3, make_divisible(16 * scale), 3, 2)
        for name, blocks in stages.items():
            layers = [
                LCNetV3Block(make_divisible(i * scale), make_divisible(o * scale), k, s, se)
                for k, i, o, s, se in blocks
            ]
            setattr(self, name, nn.Sequential(*layers))
        stage_out = [
            make_divisible(stages[n][-1][2] * scale) for n in ("blocks3", "blocks4", "blocks5", "blocks6")
        ]
        if det:
            self.layer_list = nn.LayerList(
                [nn.Conv2D(c, int(m * scale), 1) for c, m in zip(stage_out, DET_OUT_CHANNELS, strict=True)]
            )
            self.out_channels = [int(m * scale) for m in DET_OUT_CHANNELS]
        else:
            self.out_channels = stage_out[-1]

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor] | paddle.Tensor:
        x = self.blocks2(self.conv1(x))
        features = []
        for name in ("blocks3", "blocks4", "blocks5", "blocks6"):
            x = getattr(self, name)(x)
            features.append(x)
        if self.det:
            return [self.layer_list[i](f) for i, f in enumerate(features)]  # no zip(): dy2static traces this
        # PaddleOCR pools adaptively to 1 x 40 in training (equal for its fixed 320 width); the fixed 3 x 2 pooling
        # of inference is used in both modes so any width trains as it will be read
        return F.avg_pool2d(x, [3, 2])
