"""Building models from their config and loading pretrained weights with a report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle import nn

from ocrtrain.models.backbones import PPLCNetV3
from ocrtrain.models.heads import CTCRecHead, DBHead, NRTRDecoder
from ocrtrain.models.necks import RSEFPN
from ocrtrain.models.weights import read_inference_weights, read_pdparams


class DetModel(nn.Layer):
    def __init__(self, backbone: nn.Layer, neck: nn.Layer, head: nn.Layer):
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head

    def forward(self, x: paddle.Tensor) -> dict[str, paddle.Tensor]:
        return self.head(self.neck(self.backbone(x)))


def _check_name(section: str, given: str, known: str) -> None:
    if given != known:
        raise ValueError(
            f"arch.{section}.name: '{given}' is not supported (this model family uses '{known}')"
        )


def build_det_model(arch: dict[str, Any]) -> DetModel:
    """PP-OCRv4 detection from a config mirroring PaddleOCR's Architecture section (PPLCNetV3 + RSEFPN + DBHead)."""
    backbone_cfg, neck_cfg, head_cfg = dict(arch["backbone"]), dict(arch["neck"]), dict(arch["head"])
    _check_name("backbone", backbone_cfg.pop("name"), "PPLCNetV3")
    _check_name("neck", neck_cfg.pop("name"), "RSEFPN")
    _check_name("head", head_cfg.pop("name"), "DBHead")
    backbone = PPLCNetV3(scale=backbone_cfg.get("scale", 0.75), det=True)
    neck = RSEFPN(backbone.out_channels, neck_cfg.get("out_channels", 96), neck_cfg.get("shortcut", True))
    return DetModel(backbone, neck, DBHead(neck.out_channels, head_cfg.get("k", 50)))


class RecModel(nn.Layer):
    """Backbone + CTC head; with ``gtc`` also the NRTR decoder, which only a training forward given
    ``gtc_tokens`` runs (``{"ctc": logits, "gtc": logits}``). Evaluation and export see the CTC path alone."""

    def __init__(self, backbone: nn.Layer, head: nn.Layer, gtc: nn.Layer | None = None):
        super().__init__()
        self.backbone, self.head, self.gtc = backbone, head, gtc

    def forward(
        self, x: paddle.Tensor, gtc_tokens: paddle.Tensor | None = None
    ) -> paddle.Tensor | dict[str, paddle.Tensor]:
        features = self.backbone(x)
        ctc = self.head(features)
        if self.training and self.gtc is not None and gtc_tokens is not None:
            return {"ctc": ctc, "gtc": self.gtc(features, gtc_tokens)}
        return ctc


def build_rec_model(arch: dict[str, Any], num_classes: int, gtc: dict[str, Any] | None = None) -> RecModel:
    """PP-OCRv4 recognition (PPLCNetV3 + SVTR encoder + CTC) for ``num_classes`` (dictionary + space + blank);
    ``gtc`` (``{"enabled": true, "dim": 384, "decoder_layers": 4, "max_len": 27}``) adds the NRTR branch."""
    backbone_cfg, head_cfg = dict(arch["backbone"]), dict(arch["head"])
    _check_name("backbone", backbone_cfg.pop("name"), "PPLCNetV3")
    _check_name("head", head_cfg.pop("name"), "CTCRecHead")
    backbone = PPLCNetV3(scale=backbone_cfg.get("scale", 0.95), det=False)
    head = CTCRecHead(backbone.out_channels, num_classes, dict(head_cfg.get("encoder", {})))
    decoder = None
    if gtc and gtc.get("enabled"):
        decoder = NRTRDecoder(
            backbone.out_channels,
            num_classes - 1,
            gtc.get("dim", 384),
            gtc.get("decoder_layers", 4),
            gtc["max_len"],
        )
    return RecModel(backbone, head, decoder)


@dataclass
class LoadReport:
    source: str
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the weights
    unexpected: list[str] = field(default_factory=list)  # in the weights, not in the model
    shape_mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    initialised: dict[str, str] = field(default_factory=dict)  # missing params filled another way, and how

    @property
    def matched_fraction(self) -> float:
        total = len(self.matched) + len(self.missing) + len(self.shape_mismatched)
        return len(self.matched) / total if total else 0.0

    def summary(self) -> str:
        lines = [
            f"pretrained weights from {self.source}: {len(self.matched)} matched "
            f"({self.matched_fraction:.1%} of the model), {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.shape_mismatched)} shape-mismatched"
        ]
        for how in sorted(set(self.initialised.values())):
            names = [n for n, h in self.initialised.items() if h == how]
            lines.append(f"  {len(names)} missing tensors initialised: {how}")
        for name, want, got in self.shape_mismatched[:10]:
            lines.append(f"  shape mismatch {name}: model {list(want)} vs weights {list(got)}")
        uninitialised = [n for n in self.missing if n not in self.initialised]
        if uninitialised:
            lines.append(
                f"  left at random initialisation: {uninitialised[:10]}{' ...' if len(uninitialised) > 10 else ''}"
            )
        return "\n".join(lines)

    def raise_if_poor(self, min_fraction: float = 0.9) -> None:
        """Refuse to train on mostly random weights (a wrong model or a wrong file)."""
        if self.matched_fraction < min_fraction:
            raise ValueError(
                f"only {self.matched_fraction:.1%} of the model's tensors were found in {self.source} "
                f"(need {min_fraction:.0%}): wrong model for these weights?\n{self.summary()}"
            )


def read_weights(source: str | Path) -> dict[str, np.ndarray]:
    """Training-named weights of a zoo name, a legacy inference dir, or a .pdparams file."""
    from ocrtrain import zoo

    text = str(source)
    if text in zoo.ZOO:
        return read_inference_weights(zoo.zoo_model_dir(text))
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "inference.pdmodel").is_file():
            return read_inference_weights(path)
        raise FileNotFoundError(
            f"{path}: no legacy inference model (inference.pdmodel) here; for training weights give a .pdparams file"
        )
    if path.suffix == ".pdparams" and path.is_file():
        return read_pdparams(path)
    raise FileNotFoundError(
        f"pretrained '{text}': not a zoo name ({sorted(zoo.ZOO)}), inference dir or .pdparams file"
    )


def _copy_det_threshold_branch(
    weights: dict[str, np.ndarray], model_keys: set[str], report: LoadReport
) -> None:
    """The shipped detectors lack the threshold branch: start it as a copy of the probability branch.

    Measured against the alternative of starting its output at the inference threshold 0.3 (so the binary map
    begins as the inference binarisation): on ICDAR 2015 (900 train / 100 dev images, batch 8, lr 4e-4,
    frozen BatchNorm) the copy reached dev Hmean 0.525 / 0.532 after 50 / 100 steps, the constant 0.412 / 0.481.
    """
    for key in sorted(model_keys):
        if key.startswith("head.thresh.") and key not in weights:
            source = key.replace("head.thresh.", "head.binarize.", 1)
            if source in weights:
                weights[key] = weights[source]
                report.initialised[key] = "copied from the probability (binarize) branch"


CTC_WEIGHT, CTC_BIAS = "head.ctc_head.fc.weight", "head.ctc_head.fc.bias"


def adapt_ctc_head(
    weights: dict[str, np.ndarray],
    old_chars: list[str],
    new_chars: list[str],
    report: LoadReport | None = None,
) -> None:
    """Re-map the CTC classifier to a new dictionary, in place: the blank and every character the two dictionaries
    share keep their pretrained column; only new characters start fresh (zero weights, the lowest pretrained bias,
    so they are not predicted before they are learned)."""
    weight, bias = weights[CTC_WEIGHT], weights[CTC_BIAS]
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
    weights[CTC_WEIGHT], weights[CTC_BIAS] = new_weight, new_bias
    if report is not None:
        shared = len(new_chars) - len(fresh)
        how = f"re-mapped to the new dictionary: {shared} shared characters kept, {len(fresh)} new ones fresh"
        report.initialised.update({CTC_WEIGHT: how, CTC_BIAS: how})


def load_pretrained(model: nn.Layer, source: str | Path, characters: list[str] | None = None) -> LoadReport:
    """Load ``source`` into ``model`` by training name; returns what matched, what did not, and why.

    ``characters``: the recogniser's dictionary when it differs from the pretrained one (see ``adapt_ctc_head``).
    """
    weights = read_weights(source)
    state = model.state_dict()
    report = LoadReport(str(source))
    if isinstance(model, DetModel):
        _copy_det_threshold_branch(weights, set(state), report)
    if isinstance(model, RecModel):
        for name in state:
            if name.startswith("gtc.") and name not in weights:
                report.initialised[name] = (
                    "fresh: the GTC (NRTR) branch is not shipped, it trains from scratch"
                )
    if isinstance(model, RecModel) and characters is not None and CTC_WEIGHT in weights:
        from ocrtrain.data.dictionary import CharDict

        pretrained_chars = list(CharDict.pretrained().characters)
        if characters != pretrained_chars:
            adapt_ctc_head(weights, pretrained_chars, characters, report)
    to_load = {}
    for name, param in state.items():
        if name not in weights:
            report.missing.append(name)
            continue
        value = weights[name]
        if tuple(value.shape) != tuple(param.shape):
            report.shape_mismatched.append((name, tuple(param.shape), tuple(value.shape)))
            continue
        to_load[name] = value.astype(np.float32) if value.dtype == np.float64 else value
        if name not in report.initialised:
            report.matched.append(name)
    report.missing = [n for n in report.missing if n not in report.initialised]
    report.unexpected = sorted(set(weights) - set(state))
    model.set_state_dict(to_load)
    return report
