"""Bad numbers in the training config: one line naming the key, what it must be and what it got, before any work."""

from __future__ import annotations

import subprocess
import sys

import pytest

SMALL = ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.batch_size=abc", "trainer.batch_size: must be a positive integer, got 'abc'"),
        ("trainer.batch_size=0", "trainer.batch_size: must be a positive integer, got 0"),
        ("trainer.batch_size=-2", "trainer.batch_size: must be a positive integer, got -2"),
        ("trainer.num_workers=-1", "trainer.num_workers: must be an integer >= 0, got -1"),
        ("trainer.max_steps=0", "trainer.max_steps: must be a positive integer or null, got 0"),
        ("trainer.epochs=1.5", "trainer.epochs: must be a positive integer, got 1.5"),
        ("trainer.eval_every_steps=0", "trainer.eval_every_steps: must be a positive integer or null, got 0"),
        ("trainer.freeze_norm=maybe", "trainer.freeze_norm: must be true or false, got 'maybe'"),
        ("seed=-1", "seed: must be an integer >= 0, got -1"),
        ("det.optimizer.lr=fast", "det.optimizer.lr: must be a number >= 0, got 'fast'"),
        ("det.optimizer.warmup_steps=-5", "det.optimizer.warmup_steps: must be an integer >= 0, got -5"),
    ],
)
def test_a_bad_number_is_one_clear_line(tmp_path, override, message):
    proc = subprocess.run(
        [sys.executable, "-m", "ocrtrain.train", *SMALL, override, "tracking.enabled=false"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == [f"error: {message}"]


def test_an_empty_label_file_list_is_named(tmp_path):
    """``data.train.label_files=[]`` used to end in "no usable samples in []"."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocrtrain.train",
            *SMALL,
            "data.train.label_files=[]",
            "tracking.enabled=false",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: data.train.label_files is empty: name at least one label file (relative to data.root)"
    )
