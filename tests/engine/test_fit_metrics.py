"""trainer.fit_samples on the real PP-OCRv4 rec model: every evaluation also scores training samples, loaded as the
val split is, with their own labels, so a user sees whether a fine-tune under- or overfits."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, fit_rec_demo

ROOT = REPO / "datasets" / "icdar2015_rec_demo"


def test_fit_metrics_score_the_training_samples_with_their_labels(in_repo, tmp_path):
    # the training split: the val crops with their labels, then the same crops labelled with a word none of them shows
    val = (ROOT / "val.txt").read_text(encoding="utf-8").splitlines()
    mislabelled = [line.split("\t")[0] + "\tzzzz" for line in val]
    train = tmp_path / "train.txt"
    train.write_text("\n".join(val + mislabelled) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    fit_rec_demo(
        run,
        overrides=(f"data.train.label_files=['{train}']",),
        max_steps=1,
        eval_every_steps=1,
        eval_at_start=True,
        fit_samples=1000,  # more than the split holds: all of it
    )
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    evals = [r for r in rows if "eval/acc" in r]
    assert [r["step"] for r in evals] == [0, 1] and all("fit/acc" in r for r in evals)
    start = evals[0]  # the shipped weights
    assert start["fit/samples"] == 2 * start["eval/samples"] == 2 * len(val)
    assert start["eval/acc"] > 0.5
    # the correctly labelled half reads as the val split does, the mislabelled half never
    assert start["fit/acc"] == pytest.approx(start["eval/acc"] / 2)
