"""Dictionaries: the pretrained one, duplicates named by line, and the report of what a label set lacks."""

from __future__ import annotations

import pytest

from ocrtrain.data.common import LabelError
from ocrtrain.data.dictionary import CharDict, dictionary_report


def test_pretrained_dictionary_has_6625_classes_and_a_stable_hash():
    d = CharDict.pretrained()
    assert d.num_classes == 6625 and d.characters[-1] == " "
    assert d.sha256 == CharDict.pretrained().sha256 and len(d.sha256) == 64
    assert d.encode("a b") == [d.characters.index("a") + 1, d.num_classes - 1, d.characters.index("b") + 1]


def test_duplicate_character_names_its_line(tmp_path):
    (tmp_path / "dict.txt").write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"dict\.txt:3: duplicate character 'a' \(first on line 1\)"):
        CharDict.from_file(tmp_path / "dict.txt")


def test_a_dictionary_character_may_be_a_unicode_line_separator(tmp_path):
    (tmp_path / "dict.txt").write_text("a\n\u2028\n\x85\r\nb\na\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"dict\.txt:5: duplicate character 'a' \(first on line 1\)"):
        CharDict.from_file(tmp_path / "dict.txt")
    (tmp_path / "dict.txt").write_text("a\n\u2028\n\x85\r\nb\n", encoding="utf-8")
    assert CharDict.from_file(tmp_path / "dict.txt").characters == ("a", "\u2028", "\x85", "b", " ")


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
