"""``data check rec=<model>``: character coverage measured against that recogniser's dictionary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REC_DEMO = Path(__file__).resolve().parents[2] / "datasets" / "icdar2015_rec_demo"


def _coverage(tmp_path: Path, *args: str) -> dict:
    image = next((REC_DEMO / "images").iterdir())
    labels = tmp_path / "labels.txt"
    labels.write_text(f"{image}\tCafé Ñandú\n{image}\tOPEN 24h\n", encoding="utf-8")  # v4 lacks Ñ, v6 has it
    out = tmp_path / "_".join(a.partition("=")[2] for a in args)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocrtrain.data",
            "check",
            f"data.root={tmp_path}",
            "data.train.label_files=[labels.txt]",
            "~data.val",
            f"output={out}",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "check_report.json").read_text("utf-8"))["splits"]["train"]["characters"]


def test_check_measures_coverage_against_the_named_models_dictionary(tmp_path):
    v4 = _coverage(tmp_path)  # no model named: the PP-OCRv4 mobile dictionary
    v6 = _coverage(tmp_path, "rec=PP-OCRv6_small_rec")
    assert v4["missing"] == {"Ñ": 1} and v4["coverage"] < 1
    assert v6["missing"] == {} and v6["coverage"] == 1
