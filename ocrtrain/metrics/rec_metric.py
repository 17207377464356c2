"""Recognition metrics as PaddleOCR names them: ``acc`` (exact line match) and ``norm_edit_dis``.

``norm_edit_dis`` is 1 - the mean of edit distance / max(len(prediction), len(truth)). By default spaces are ignored
(as PaddleOCR does); ``case_sensitive=False`` and ``symbol_insensitive=True`` (letters and digits only) loosen it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute: cost 1 each)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


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


def rec_metrics(
    predictions: Sequence[str], truths: Sequence[str], options: RecMetricOptions = RecMetricOptions()
) -> dict[str, float]:
    """``acc`` and ``norm_edit_dis`` over paired predictions and ground truths."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} ground truths")
    if not truths:
        return {"acc": 0.0, "norm_edit_dis": 0.0}
    correct, norm_distance = 0, 0.0
    for pred, truth in zip(predictions, truths, strict=True):
        p, t = options.normalise(pred), options.normalise(truth)
        correct += p == t
        norm_distance += edit_distance(p, t) / max(len(p), len(t), 1)
    return {"acc": correct / len(truths), "norm_edit_dis": 1 - norm_distance / len(truths)}
