"""Recognition metric on hand-made cases, dictionaries, and the CTC loss on real logits."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from ocrtrain.data.common import LabelError
from ocrtrain.data.dictionary import CharDict, dictionary_report
from ocrtrain.losses.ctc_loss import CTCLoss
from ocrtrain.metrics.rec_metric import RecMetricOptions, edit_distance, rec_metrics


def test_edit_distance():
    assert (
        edit_distance("kitten", "sitting") == 3
        and edit_distance("", "abc") == 3
        and edit_distance("ab", "ab") == 0
    )


def test_acc_ignores_spaces_by_default_and_norm_edit_dis():
    m = rec_metrics(["Hello World", "Caf", "x"], ["HelloWorld", "Cafe", "x"])
    assert m["acc"] == pytest.approx(2 / 3)
    assert m["norm_edit_dis"] == pytest.approx(1 - (0 + 1 / 4 + 0) / 3)
    assert rec_metrics(["a b"], ["ab"], RecMetricOptions(ignore_space=False))["acc"] == 0.0


def test_case_and_symbol_options():
    assert rec_metrics(["EXIT"], ["Exit"])["acc"] == 0.0
    assert rec_metrics(["EXIT"], ["Exit"], RecMetricOptions(case_sensitive=False))["acc"] == 1.0
    assert rec_metrics(["[06]"], ["(06)"], RecMetricOptions(symbol_insensitive=True))["acc"] == 1.0


def test_pretrained_dictionary_has_6625_classes_and_a_stable_hash():
    d = CharDict.pretrained()
    assert d.num_classes == 6625 and d.characters[-1] == " "
    assert d.sha256 == CharDict.pretrained().sha256 and len(d.sha256) == 64
    assert d.encode("a b") == [d.characters.index("a") + 1, d.num_classes - 1, d.characters.index("b") + 1]


def test_duplicate_character_names_its_line(tmp_path):
    (tmp_path / "dict.txt").write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"dict\.txt:3: duplicate character 'a' \(first on line 1\)"):
        CharDict.from_file(tmp_path / "dict.txt")


def test_dictionary_report_lists_missing_characters_and_long_labels(tmp_path):
    (tmp_path / "dict.txt").write_text("a\nb\nc\n", encoding="utf-8")
    d = CharDict.from_file(tmp_path / "dict.txt")
    labels = [
        ("abc", "train.txt:1"),
        ("abé", "train.txt:2"),
        ("ééé", "train.txt:3"),
        ("a" * 30, "train.txt:4"),
    ]
    report = dictionary_report(labels, d, max_text_length=25)
    assert report.missing == {"é": 4} and report.missing_examples["é"] == "train.txt:2 'abé'"
    assert report.too_long == ["train.txt:4"] and report.dropped == ["train.txt:3", "train.txt:4"]
    assert "'é' x4, e.g. train.txt:2" in report.summary()
    with pytest.raises(ValueError, match="data.strict=true"):
        dictionary_report(labels, d, strict=True)


def test_ctc_loss_prefers_logits_that_spell_the_label():
    labels = paddle.to_tensor([[3, 5, 5, 0]], dtype="int32")  # "x y y" with a repeat, padded
    lengths = paddle.to_tensor([3], dtype="int64")
    spelled = np.full((1, 8, 10), -5.0, np.float32)
    for t, cls in enumerate([3, 3, 0, 5, 0, 5, 0, 0]):  # a valid CTC path: repeats separated by blanks
        spelled[0, t, cls] = 5.0
    random = np.random.default_rng(0).normal(size=(1, 8, 10)).astype(np.float32)
    loss = CTCLoss()
    good = float(loss(paddle.to_tensor(spelled), labels, lengths)["loss"])
    bad = float(loss(paddle.to_tensor(random), labels, lengths)["loss"])
    assert np.isfinite(good) and good < 1.0 < bad
