"""Text-line orientation classification: class probabilities -> (label, score)."""

from __future__ import annotations

import numpy as np

from ocrtrain.components import register


@register("postprocess", "ClsPostProcess")
class ClsPostProcess:
    """The classifier's post-process as inference.yml names it: ``label_list[k]`` is class ``k``'s label."""

    def __init__(self, label_list: list[str]) -> None:
        self.labels = [str(label) for label in label_list]

    def __call__(self, probs: np.ndarray) -> list[tuple[str, float]]:
        """N x classes probabilities -> the most likely label of each row and its probability."""
        best = probs.argmax(axis=1)
        return [(self.labels[int(k)], float(p[k])) for k, p in zip(best, probs, strict=True)]
