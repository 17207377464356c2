"""scripts/chaos_train.py with a few kills: SIGKILL at random moments, resume, the same result as a run left alone."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_a_run_killed_and_resumed_ends_like_an_uninterrupted_one(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "chaos_train.py"),
            "--kills=3",
            "--steps=12",
            f"--workdir={tmp_path / 'chaos'}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "survived 3 kills" in proc.stdout
