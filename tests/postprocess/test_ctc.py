"""CTC greedy decoding and the classifier post-process, built by the names inference.yml gives them."""

from __future__ import annotations

import numpy as np
import pytest

from ocrtrain.components import build


def one_hot(path: list[int], classes: int) -> np.ndarray:
    probs = np.full((1, len(path), classes), 0.01, np.float32)
    for t, k in enumerate(path):
        probs[0, t, k] = 0.9
    return probs


def test_repeats_collapse_unless_a_blank_separates_them_and_the_space_is_appended():
    decode = build(
        "postprocess", {"name": "CTCLabelDecode", "character_dict": ["a", "b"], "use_space_char": True}
    )
    assert decode.characters == ["a", "b", " "]
    # classes: 0 blank, 1 a, 2 b, 3 space
    ((text, score),) = decode(one_hot([1, 1, 0, 1, 3, 2, 2, 0], 4))
    assert text == "aa b" and score == pytest.approx(0.9)
    ((empty, empty_score),) = decode(one_hot([0, 0, 0], 4))
    assert empty == "" and empty_score == 0.0


def test_classifier_labels_follow_the_label_list():
    classify = build("postprocess", {"name": "ClsPostProcess", "label_list": ["0", "180"]})
    probs = np.array([[0.8, 0.2], [0.05, 0.95]], np.float32)
    assert classify(probs) == [("0", pytest.approx(0.8)), ("180", pytest.approx(0.95))]
