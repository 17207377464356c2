"""Two trainings started at the same moment in one directory: separate run dirs, both tracked in a fresh mlflow.db."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import DEMO

from ocrtrain.tracking import RUN_FILE

SMALL = ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo", "det.train_transform.crop_size=320"]


def test_two_first_runs_at_once_get_their_own_dirs_and_mlflow_runs(tmp_path):
    args = [
        sys.executable,
        "-m",
        "ocrtrain.train",
        *SMALL,
        f"data.root={DEMO}",
        "trainer.max_steps=1",
        "trainer.batch_size=1",
        "trainer.num_workers=0",
        "trainer.progress=false",
    ]
    procs = [
        subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    run_dirs = sorted((tmp_path / "outputs" / "train").iterdir())
    assert len(run_dirs) == 2
    run_ids = {json.loads((d / RUN_FILE).read_text())["run_id"] for d in run_dirs}
    assert len(run_ids) == 2
    for d in run_dirs:
        steps = [json.loads(line)["step"] for line in (d / "metrics.jsonl").read_text().splitlines()]
        assert steps == [1, 1]  # its own loss and eval rows, nobody else's

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    for run_id in run_ids:
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.run_name.startswith("train ")
