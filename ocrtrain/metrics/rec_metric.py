"""Recognition metrics as PaddleOCR names them: ``acc`` (exact line match) and ``norm_edit_dis``.

``norm_edit_dis`` is 1 - the mean of edit distance / max(len(prediction), len(truth)) (rapidfuzz's normalised
Levenshtein distance, as PaddleOCR's RecMetric). By default spaces are ignored (as PaddleOCR does);
``case_sensitive=False`` and ``symbol_insensitive=True`` (letters and digits only) loosen the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein


@dataclass(frozen=True)
class RecMetricOptions:
    ignore_space: bool = True
    case_sensitive: bool = True
    symbol_insensitive: bool = False

    def normalise(self, text: str) -> str:
        if self.ignore_space:
            text = text.replace(" ", "")
        if not self.case_sensitive:
            text = text.lower()
        if self.symbol_insensitive:
            text = "".join(c for c in text if c.isalnum())
        return text


@dataclass(frozen=True)
class SampleScore:
    """One prediction against its ground truth, both normalised by the options."""

    correct: bool
    edit_distance: int
    normalized_distance: float  # edit distance / the longer length; 0 for two empty lines


def score(prediction: str, truth: str, options: RecMetricOptions = RecMetricOptions()) -> SampleScore:
    p, t = options.normalise(prediction), options.normalise(truth)
    return SampleScore(p == t, Levenshtein.distance(p, t), Levenshtein.normalized_distance(p, t))


def summarize(scores: Sequence[SampleScore]) -> dict[str, float]:
    """``acc`` and ``norm_edit_dis`` over scored samples (0.0 for none)."""
    if not scores:
        return {"acc": 0.0, "norm_edit_dis": 0.0}
    return {
        "acc": sum(s.correct for s in scores) / len(scores),
        "norm_edit_dis": 1 - sum(s.normalized_distance for s in scores) / len(scores),
    }


def rec_metrics(
    predictions: Sequence[str], truths: Sequence[str], options: RecMetricOptions = RecMetricOptions()
) -> dict[str, float]:
    """``acc`` and ``norm_edit_dis`` over paired predictions and ground truths."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} ground truths")
    return summarize([score(p, t, options) for p, t in zip(predictions, truths, strict=True)])
