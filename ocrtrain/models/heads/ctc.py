"""The CTC classifier: linear layer(s) over the encoded sequence, class 0 = blank."""

from __future__ import annotations

import logging

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ocrtrain.components import register
from ocrtrain.models.hardswish import hardswish
from ocrtrain.models.layers import conv_norm
from ocrtrain.models.loading import LoadContext, LoadReport

log = logging.getLogger("ocrtrain")


class SequenceMixer(nn.Layer):
    """Depthwise 1 x k conv over the sequence, then a pointwise conv; BatchNorm and hard-swish after each."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2D(
            channels, channels, (1, kernel), padding=(0, kernel // 2), groups=channels, bias_attr=False
        )
        self.depthwise_bn = nn.BatchNorm2D(channels)
        self.pointwise = nn.Conv2D(channels, channels, 1, bias_attr=False)
        self.pointwise_bn = nn.BatchNorm2D(channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        z = x.transpose([0, 2, 1]).unsqueeze(2)  # N x T x C -> N x C x 1 x T
        z = hardswish(conv_norm(self.depthwise, self.depthwise_bn, z))
        z = hardswish(conv_norm(self.pointwise, self.pointwise_bn, z))
        return z.squeeze(2).transpose([0, 2, 1])


@register("head", "CTCHead")
class CTCHead(nn.Layer):
    """N x T x C sequence -> eval: softmax probabilities N x T x classes (as the shipped inference model);
    train: ``{"ctc": logits}``.

    ``mid_channels``: two linear layers (``fc1`` to mid_channels, ``fc2`` to the classes) instead of one ``fc``;
    ``mix_kernel``: a depthwise-separable conv mixer over the sequence before them (PP-OCRv6 tiny)."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mid_channels: int | None = None,
        mix_kernel: int | None = None,
    ) -> None:
        super().__init__()
        self.mixer = SequenceMixer(in_channels, mix_kernel) if mix_kernel else None
        if mid_channels:
            self.fc1 = nn.Linear(in_channels, mid_channels)
            self.fc2 = nn.Linear(mid_channels, num_classes)
        else:
            self.fc = nn.Linear(in_channels, num_classes)
        self.classifier = "fc2" if mid_channels else "fc"

    def forward(
        self, x: paddle.Tensor, targets: dict[str, paddle.Tensor] | None = None
    ) -> paddle.Tensor | dict[str, paddle.Tensor]:
        if self.mixer is not None:
            x = self.mixer(x)
        logits = self.fc2(self.fc1(x)) if self.classifier == "fc2" else self.fc(x)
        return {"ctc": logits} if self.training else F.softmax(logits, axis=2)

    def adapt_weights(
        self, prefix: str, tensors: dict[str, np.ndarray], report: LoadReport, context: LoadContext
    ) -> None:
        """Re-map the classifier to the model's dictionary when the weights speak another one (``adapt_ctc_head``).
        Weights that do not say which dictionary they speak are taken to speak the pretrained PP-OCR one."""
        weight_key, bias_key = f"{prefix}{self.classifier}.weight", f"{prefix}{self.classifier}.bias"
        if context.characters is None or weight_key not in tensors or bias_key not in tensors:
            return
        source = context.source_characters
        if source is None:
            from ocrtrain.data.dictionary import CharDict

            source = list(CharDict.pretrained().characters)
        classes = tensors[weight_key].shape[1]
        if len(source) + 1 != classes and len(context.characters) + 1 != classes:
            log.warning(
                f"{prefix}{self.classifier}: the weights' classifier has {classes} classes and the model's "
                f"dictionary {len(context.characters) + 1} (with the blank); the weights do not say which dictionary "
                "they were trained with, so the classifier starts random and reads nothing until it is trained. "
                "If they were trained with another dictionary, give that file: data.dict=<file> (relative to "
                "data.root), and its characters keep their columns"
            )
        if len(source) + 1 != classes or list(context.characters) == list(source):
            return
        adapt_ctc_head(tensors, weight_key, bias_key, source, list(context.characters), report)


def adapt_ctc_head(
    tensors: dict[str, np.ndarray],
    weight_key: str,
    bias_key: str,
    old_chars: list[str],
    new_chars: list[str],
    report: LoadReport,
) -> None:
    """Re-map a CTC classifier to a new dictionary, in place: the blank and every character the two dictionaries
    share keep their pretrained column; only new characters start fresh (zero weights, the lowest pretrained bias,
    so they are not predicted before they are learned)."""
    weight, bias = tensors[weight_key], tensors[bias_key]
    old_class = {c: i + 1 for i, c in enumerate(old_chars)}
    new_weight = np.zeros((weight.shape[0], len(new_chars) + 1), weight.dtype)
    new_bias = np.full(len(new_chars) + 1, bias.min(), bias.dtype)
    new_weight[:, 0], new_bias[0] = weight[:, 0], bias[0]
    fresh = []
    for j, char in enumerate(new_chars, start=1):
        if char in old_class:
            new_weight[:, j], new_bias[j] = weight[:, old_class[char]], bias[old_class[char]]
        else:
            fresh.append(char)
    tensors[weight_key], tensors[bias_key] = new_weight, new_bias
    shared = len(new_chars) - len(fresh)
    how = f"re-mapped to the new dictionary: {shared} shared characters kept, {len(fresh)} new ones fresh"
    report.initialised.update({weight_key: how, bias_key: how})
