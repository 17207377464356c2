"""Building a model from its config: backbone -> [neck] -> head, each found by name in the component registry.

A model config mirrors PaddleOCR's ``Architecture`` section::

    arch:
      imports: [my_project.my_backbone]   # optional: modules that register extra components
      backbone: {name: PPLCNetV3, scale: 0.75, det: true}
      neck: {name: RSEFPN, out_channels: 96}
      head: {name: DBHead, k: 50}

Each component gets the previous one's ``out_channels`` as ``in_channels``; the head also gets the task's extra
arguments (``num_classes`` for recognition). The output contract is in ``ocrtrain.models``.
"""

from __future__ import annotations

import importlib
from typing import Any

import paddle
from paddle import nn

from ocrtrain.components import build


class Model(nn.Layer):
    def __init__(self, backbone: nn.Layer, neck: nn.Layer | None, head: nn.Layer) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head

    def forward(
        self, x: paddle.Tensor, targets: dict[str, paddle.Tensor] | None = None
    ) -> paddle.Tensor | dict[str, paddle.Tensor]:
        features = self.backbone(x)
        if self.neck is not None:
            features = self.neck(features)
        return self.head(features, targets)


def build_model(arch: dict[str, Any], **head_args: Any) -> Model:
    """The model ``arch`` describes; ``head_args`` go to the head (e.g. ``num_classes``)."""
    for module in arch.get("imports") or []:
        importlib.import_module(module)
    backbone = build("backbone", arch["backbone"])
    channels = backbone.out_channels
    neck = None
    if arch.get("neck"):
        neck = build("neck", arch["neck"], in_channels=channels)
        channels = neck.out_channels
    head = build("head", arch["head"], in_channels=channels, **head_args)
    return Model(backbone, neck, head)
