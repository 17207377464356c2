"""CTC greedy decoding, shared by recognition evaluation and the OCR pipeline."""

from __future__ import annotations

import numpy as np

from ocrtrain.components import register


def ctc_greedy_decode(probs: np.ndarray, characters: list[str], blank: int = 0) -> list[tuple[str, float]]:
    """Decode N x T x C class probabilities into (text, mean confidence of the kept characters).

    ``characters[k]`` is the character of class ``k + 1``: class ``blank`` (0) is the CTC blank, as in
    PaddleOCR's CTCLabelDecode. Repeats are collapsed before blanks are removed; an empty line scores 0.
    """
    best = probs.argmax(axis=2)
    best_prob = probs.max(axis=2)
    results = []
    for ids, conf in zip(best, best_prob, strict=True):
        keep = np.ones(len(ids), dtype=bool)
        keep[1:] = ids[1:] != ids[:-1]
        keep &= ids != blank
        text = "".join(characters[i - 1] for i in ids[keep])
        score = float(conf[keep].mean()) if keep.any() else 0.0
        results.append((text, score))
    return results


def keep_surer(
    readings: list[tuple[str, float]], others: list[tuple[str, float]], which: list[int]
) -> tuple[list[tuple[str, float]], list[bool]]:
    """Where a crop was also read another way (``others[k]`` reads crop ``which[k]``), keep the higher-scoring
    reading; returns the readings and, per crop, whether the other reading won (a tie keeps the first)."""
    readings, replaced = list(readings), [False] * len(readings)
    for i, other in zip(which, others, strict=True):
        if other[1] > readings[i][1]:
            readings[i], replaced[i] = other, True
    return readings, replaced


@register("postprocess", "CTCLabelDecode")
class CTCLabelDecode:
    """The CTC post-process as inference.yml names it: its dictionary, plus the space when ``use_space_char``."""

    def __init__(self, character_dict: list[str], use_space_char: bool = True) -> None:
        self.characters = [str(c) for c in character_dict]
        if use_space_char and " " not in self.characters:
            self.characters.append(" ")

    def __call__(self, probs: np.ndarray) -> list[tuple[str, float]]:
        return ctc_greedy_decode(probs, self.characters)
