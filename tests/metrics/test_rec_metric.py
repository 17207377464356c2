"""The recognition metric on hand-made cases whose numbers are known."""

from __future__ import annotations

import pytest

from ocrtrain.metrics.rec_metric import RecMetricOptions, rec_metrics, score


def test_edit_distance_and_its_normalisation():
    assert score("kitten", "sitting").edit_distance == 3
    assert score("", "abc").edit_distance == 3 and score("", "abc").normalized_distance == 1.0
    assert score("ab", "ab") == score("ab", "ab") and score("ab", "ab").correct
    assert score("", "").normalized_distance == 0.0
    assert score("Hello World", "HelloWorld").edit_distance == 0  # spaces are ignored by default
    assert score("abcd", "abxd").normalized_distance == pytest.approx(1 / 4)


def test_acc_ignores_spaces_by_default_and_norm_edit_dis():
    m = rec_metrics(["Hello World", "Caf", "x"], ["HelloWorld", "Cafe", "x"])
    assert m["acc"] == pytest.approx(2 / 3)
    assert m["norm_edit_dis"] == pytest.approx(1 - (0 + 1 / 4 + 0) / 3)
    assert rec_metrics(["a b"], ["ab"], RecMetricOptions(ignore_space=False))["acc"] == 0.0


def test_case_and_symbol_options():
    assert rec_metrics(["EXIT"], ["Exit"])["acc"] == 0.0
    assert rec_metrics(["EXIT"], ["Exit"], RecMetricOptions(case_sensitive=False))["acc"] == 1.0
    assert rec_metrics(["[06]"], ["(06)"], RecMetricOptions(symbol_insensitive=True))["acc"] == 1.0
