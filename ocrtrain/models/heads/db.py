"""DB (differentiable binarisation) head: probability and threshold maps for text detection."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.layers import conv_norm
from ocrtrain.models.loading import LoadContext, LoadReport


class DBBranch(nn.Layer):
    """3x3 conv -> BN-ReLU -> 2x up-conv -> BN-ReLU -> 2x up-conv to one channel -> sigmoid (stride 4 -> 1).

    ``fused``: the BatchNorms folded into the convolutions' biases, as the PP-OCRv6 weights ship."""

    def __init__(self, in_ch: int, fused: bool = False) -> None:
        super().__init__()
        mid = in_ch // 4
        self.conv1 = nn.Conv2D(in_ch, mid, 3, padding=1, bias_attr=None if fused else False)
        self.conv_bn1 = nn.Identity() if fused else nn.BatchNorm2D(mid)
        self.conv2 = nn.Conv2DTranspose(mid, mid, 2, stride=2)
        self.conv_bn2 = nn.Identity() if fused else nn.BatchNorm2D(mid)
        self.conv3 = nn.Conv2DTranspose(mid, 1, 2, stride=2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = F.relu(conv_norm(self.conv1, self.conv_bn1, x))
        x = F.relu(conv_norm(self.conv2, self.conv_bn2, x))
        return F.sigmoid(self.conv3(x))


def training_only_branch(in_ch: int) -> DBBranch:
    """A branch only training runs (no inference weights hold it), set up as PaddleOCR trains one from scratch:
    Kaiming-uniform transposed convolutions with biases uniform in +-1/sqrt(mid channels), the 3x3 conv at Paddle's
    default, BatchNorms with scale 1 and shift 1e-4 that normalise by the batch's statistics even when
    ``trainer.freeze_norm`` freezes the pretrained ones: they have no statistics worth keeping, and frozen at their
    initial ones they pass the neck's unnormalised levels on (std ~48 on the demo images: 61% of v6 tiny's auxiliary
    probabilities saturated below 1e-3 or above 1 - 1e-3; 2% with batch statistics)."""
    branch = DBBranch(in_ch)
    mid = in_ch // 4
    for conv in (branch.conv2, branch.conv3):
        nn.initializer.KaimingUniform()(conv.weight)
        nn.initializer.Uniform(-(mid**-0.5), mid**-0.5)(conv.bias)
    branch.conv_bn1, branch.conv_bn2 = (
        nn.BatchNorm2D(
            mid,
            weight_attr=nn.initializer.Constant(1.0),
            bias_attr=nn.initializer.Constant(1e-4),
            use_global_stats=False,
        )
        for _ in range(2)
    )
    return branch


# PaddleOCR's auxiliary levels (PP-OCRv6): the neck's merged map at stride 16, 8 and 4, and its upsampling to stride 4
AUX_UPSAMPLING = {"p4": 4, "p3": 2, "p2": 1}


@register("head", "DBHead")
class DBHead(nn.Layer):
    """Differentiable binarisation. Eval: the probability map N x 1 x H x W; train: ``{"maps": N x 3 x H x W}``,
    probability, threshold and the approximate binary map ``1 / (1 + exp(-k (P - T)))`` on channels.

    The shipped inference weights hold only the probability branch; the threshold branch starts as a copy of it
    (``adapt_weights``), a trained map of where text is, rather than noise.

    ``aux_in_channels`` > 0 (PP-OCRv6): in training, a probability/threshold branch pair per auxiliary level of the
    neck (``{"fuse": ..., "aux": {"p4"|"p3"|"p2": map}}``, UniRepLKFPN) predicts the same three maps, upsampled
    bilinearly to stride 4 first: ``"aux_maps_<level>"``, deep supervision for the loss. Eval mode never runs them,
    so the exported program is unchanged; no shipped inference weights hold them, so they start as PaddleOCR
    trains them from scratch (``training_only_branch``).
    """

    def __init__(self, in_channels: int, k: int = 50, fused: bool = False, aux_in_channels: int = 0) -> None:
        super().__init__()
        self.k = k
        self.binarize = DBBranch(in_channels, fused)
        self.thresh = DBBranch(in_channels, fused)
        self.aux_binarize = self.aux_thresh = None
        if aux_in_channels > 0:
            self.aux_binarize = nn.LayerDict(
                {lv: training_only_branch(aux_in_channels) for lv in AUX_UPSAMPLING}
            )
            self.aux_thresh = nn.LayerDict(
                {lv: training_only_branch(aux_in_channels) for lv in AUX_UPSAMPLING}
            )

    def forward(
        self, x: paddle.Tensor | dict, targets: dict[str, paddle.Tensor] | None = None
    ) -> paddle.Tensor | dict[str, paddle.Tensor]:
        features, aux_features = (x["fuse"], x["aux"]) if isinstance(x, dict) else (x, None)
        shrink = self.binarize(features)
        if not self.training:
            return shrink
        out = {"maps": self.db_maps(shrink, self.thresh(features))}
        if self.aux_binarize is None:
            return out
        if aux_features is None:
            raise ValueError(
                "DBHead: aux_in_channels needs a neck that returns its levels in training (UniRepLKFPN); "
                "set the head's aux_in_channels to 0 for this neck"
            )
        for level, scale in AUX_UPSAMPLING.items():
            level_features = aux_features[level]
            if scale > 1:
                level_features = F.interpolate(level_features, scale_factor=scale, mode="bilinear")
            out[f"aux_maps_{level}"] = self.db_maps(
                self.aux_binarize[level](level_features), self.aux_thresh[level](level_features)
            )
        return out

    def db_maps(self, shrink: paddle.Tensor, threshold: paddle.Tensor) -> paddle.Tensor:
        """Probability, threshold and approximate binary map on channels."""
        return paddle.concat([shrink, threshold, F.sigmoid(self.k * (shrink - threshold))], axis=1)

    def adapt_weights(
        self, prefix: str, tensors: dict[str, np.ndarray], report: LoadReport, context: LoadContext
    ) -> None:
        """A missing threshold branch starts as a copy of the probability branch; missing auxiliary branches keep
        their initialisation.

        Measured against the alternative of starting its output at the inference threshold 0.3 (so the binary map
        begins as the inference binarisation): on ICDAR 2015 (900 train / 100 dev images, batch 8, lr 4e-4,
        frozen BatchNorm) the copy reached dev Hmean 0.525 / 0.532 after 50 / 100 steps, the constant 0.412 / 0.481.
        The copy's outputs are saturated (the probability branch's logits are -58 to -14 on 98% of the demo images'
        pixels), so its L1 loss barely trains it; a copy with its logits divided by 10, which does train, pulled the
        shared features towards the untrained threshold and did worse: 0.385 against 0.462 at step 50 (2 processes
        x 4, with CopyPaste).
        """
        for key in [prefix + "thresh." + n for n in self.thresh.state_dict()]:
            source = key.replace(prefix + "thresh.", prefix + "binarize.", 1)
            if key not in tensors and source in tensors:
                tensors[key] = tensors[source]
                report.initialised[key] = "copied from the probability (binarize) branch"
        for name, value in self.state_dict().items():
            if name.startswith("aux_") and prefix + name not in tensors:
                tensors[prefix + name] = value.numpy()  # loaded as it is
                report.initialised[prefix + name] = (
                    "auxiliary branch (training only), initialised for training from scratch"
                )
