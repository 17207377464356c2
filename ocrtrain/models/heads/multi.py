"""PaddleOCR's MultiHead for PP-OCRv4 recognition: a CTC branch (sequence encoder + CTC classifier) and, for
training only, the GTC branch (an NRTR decoder over the backbone features). Inference and export are the CTC
branch alone. Sublayer names follow PaddleOCR's (``ctc_encoder.encoder``, ``ctc_head``, ``gtc_head``), so the
shipped weights load by name."""

from __future__ import annotations

from typing import Any

import paddle
from paddle import nn

from ocrtrain import components
from ocrtrain.components import register


class _Encoder(nn.Layer):
    """Holds the sequence encoder as ``.encoder`` (PaddleOCR's ``SequenceEncoder`` naming)."""

    def __init__(self, encoder: nn.Layer) -> None:
        super().__init__()
        self.encoder = encoder
        self.out_channels = encoder.out_channels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.encoder(x)


@register("head", "MultiHead")
class MultiHead(nn.Layer):
    """``encoder``: the CTC branch's neck config (``{name: SVTREncoder, ...}``); ``ctc``: its classifier
    (default ``CTCHead``); ``gtc``: the GTC head's config (``{name: NRTRHead, enabled: true, ...}``) or None.

    Eval: the CTC probabilities. Train: ``{"ctc": logits}``, plus ``"gtc"`` logits when ``targets`` holds
    ``gtc_tokens`` (N x L, start token first).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        encoder: dict[str, Any],
        ctc: dict[str, Any] | None = None,
        gtc: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.ctc_encoder = _Encoder(components.build("neck", encoder, in_channels=in_channels))
        self.ctc_head = components.build(
            "head",
            ctc or {"name": "CTCHead"},
            in_channels=self.ctc_encoder.out_channels,
            num_classes=num_classes,
        )
        gtc = dict(gtc or {})
        self.gtc_head = None
        if gtc.pop("enabled", bool(gtc)):
            self.gtc_head = components.build("head", gtc, in_channels=in_channels, num_classes=num_classes)

    def forward(
        self, x: paddle.Tensor, targets: dict[str, paddle.Tensor] | None = None
    ) -> paddle.Tensor | dict[str, paddle.Tensor]:
        out = self.ctc_head(self.ctc_encoder(x))
        if not self.training:
            return out
        if self.gtc_head is not None and targets is not None and "gtc_tokens" in targets:
            out = {**out, "gtc": self.gtc_head(x, targets["gtc_tokens"])}
        return out
