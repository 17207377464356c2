"""Data-parallel training: two CPU processes under paddle.distributed.launch (``trainer.nproc=2``), the real CLI."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

from ocrtrain.devices import DeviceUnavailableError
from ocrtrain.engine.distributed import Plan, RankLogs, _outcome, cpu_parallel_hint, plan

REC_DEMO = REPO / "datasets" / "icdar2015_rec_demo"
# CTC's mean over the batch is separable and BatchNorm is frozen, so with dropout off two ranks of batch 2 take the
# step one process of batch 4 takes (the same 4 samples with the same augmentation). Not so for det: DB's dice terms
# are ratios over the whole batch (and balanced BCE's OHEM picks the hardest negatives across it).
REC = [
    "rec=PP-OCRv4_mobile_rec",
    "data=icdar2015_rec_demo",
    f"data.root={REC_DEMO}",
    "rec.arch.head.encoder.dropout=0.0",
    "rec.optimizer.lr=1e-4",
    "rec.optimizer.warmup_steps=0",
    "rec.optimizer.scale_lr=false",
    "trainer.num_workers=0",
    "trainer.progress=false",
    "trainer.log_every_steps=1",
]
RUN_S = 240  # a launch on a busy 2-core machine: two ranks importing paddle and building the model
# steps of the compared runs: enough that the stop signal, sent once the first step is logged, lands before the last
# (a step of 2 crops takes well under a second)
STEPS = 10


def train(cwd: Path, *overrides: str, timeout: float = RUN_S) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "ocrtrain.train", *REC, *overrides]
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def rows(run_dir: Path, key: str = "loss") -> dict[int, float]:
    """metrics.jsonl's ``key`` by step; a step logged twice is an error."""
    out: dict[int, float] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if key in row:
            assert row["step"] not in out, f"step {row['step']} logged twice"
            out[row["step"]] = row[key]
    return out


def test_plans_are_checked_before_any_rank_starts():
    import paddle

    assert plan("cpu", None) == Plan(1) and plan("cpu", 2) == Plan(2)
    if not paddle.is_compiled_with_cuda():
        with pytest.raises(DeviceUnavailableError, match=r"'gpu:0' was requested, but .*\(CPU only\)"):
            plan("gpu:0,1", None)
    with pytest.raises(ValueError, match=r"trainer.nproc=2 with device=gpu:0: list one device per process"):
        plan("gpu:0", 2)
    with pytest.raises(ValueError, match="the cpu takes no index"):
        plan("cpu:0,1", None)


def test_one_process_on_several_cores_is_told_of_trainer_nproc():
    assert "trainer.nproc=2 with half the trainer.batch_size" in cpu_parallel_hint(Plan(1), cores=2)
    assert cpu_parallel_hint(Plan(1), cores=1) is None  # nothing to share out
    assert cpu_parallel_hint(Plan(2), cores=2) is None  # already data-parallel
    assert cpu_parallel_hint(Plan(1, "gpu", (0,)), cores=8) is None


@pytest.mark.slow
def test_two_ranks_train_like_one_process_and_stop_and_resume_at_the_exact_step(tmp_path):
    store = f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"
    single = tmp_path / "single"
    done = train(
        tmp_path, "trainer.batch_size=4", f"trainer.max_steps={STEPS}", f"hydra.run.dir={single}", store
    )
    assert done.returncode == 0, done.stderr[-3000:]

    # two ranks of batch 2, stopped by SIGTERM once the first step is logged, then resumed to the end
    args = [sys.executable, "-m", "ocrtrain.train", *REC, "trainer.nproc=2", "trainer.batch_size=2"]
    args += [f"trainer.max_steps={STEPS}", store]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + RUN_S
    while not list((tmp_path / "outputs").glob("train/*/metrics.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 143, err[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "train").iterdir()  # the ranks shared one run directory
    stopped_at = json.loads((run_dir / "checkpoints" / "latest" / "state.json").read_text())["global_step"]
    assert 1 <= stopped_at < STEPS

    resumed = train(
        tmp_path,
        "trainer.nproc=2",
        "trainer.batch_size=2",
        f"trainer.max_steps={STEPS}",
        f"resume={run_dir}",
        store,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {run_dir / 'checkpoints' / 'latest'} at global step {stopped_at}" in resumed.stdout
    assert "ranks in sync: 2 ranks hold identical parameters" in resumed.stdout

    # the mean loss of the ranks is the one process' loss, step after step (the same update)
    ours, reference = rows(run_dir), rows(single)
    assert sorted(ours) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert ours[step] == pytest.approx(reference[step], rel=1e-4, abs=1e-4), (step, ours, reference)

    # rank 0 alone wrote the run's files and tracked it: one MLflow run, finished, each step logged once
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best", "latest"]
    log = (run_dir / "train.log").read_text()
    assert log.count("train data: 114 samples") == 2, log  # rank 0 of the first launch and of the resumed one
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = [r for r in client.search_runs(client.search_experiments()[0].experiment_id)]
    dp_runs = [r for r in runs if r.data.tags.get("ocrtrain.run_dir") == str(run_dir)]
    assert len(dp_runs) == 1 and dp_runs[0].info.status == "FINISHED"
    history = client.get_metric_history(dp_runs[0].info.run_id, "loss")
    assert sorted(m.step for m in history) == list(range(1, STEPS + 1))
    assert (run_dir / "launch" / "workerlog.1").is_file()  # paddle's launcher logs live in the run directory


@pytest.mark.parametrize("seed", [42, 0], ids=["in rank 0", "in rank 1"])  # whose shard holds line 2
def test_a_bad_sample_in_any_rank_ends_the_run_with_its_file_and_line(tmp_path, seed):
    root = tmp_path / "data"
    shutil.copytree(REC_DEMO / "images", root / "images")
    (root / "images" / "broken.png").write_bytes(b"this is not an image\n")
    good = (REC_DEMO / "train.txt").read_text().splitlines()[0]
    (root / "train.txt").write_text(f"{good}\nimages/broken.png\tword\n")
    shutil.copy(REC_DEMO / "val.txt", root / "val.txt")
    start = time.monotonic()
    done = train(
        tmp_path,
        f"data.root={root}",
        f"seed={seed}",
        "trainer.nproc=2",
        "trainer.batch_size=1",
        "tracking.enabled=false",
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"error: {root / 'train.txt'}:2: unreadable image" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert time.monotonic() - start < RUN_S


def test_the_command_reports_the_rank_that_failed_in_this_launch(tmp_path, capsys):
    """A resumed run launches into the same log dir, where paddle appends: an old error is not this launch's."""
    old = "error: data/train.txt:3: an old failure, fixed before the resume\n"
    (tmp_path / "workerlog.1").write_text(old)
    logs = RankLogs(tmp_path, 2)
    (tmp_path / "workerlog.0").write_text("stopped by the launcher\n")
    (tmp_path / "workerlog.1").write_text(old + "error: data/train.txt:7: unreadable image\n")
    (tmp_path / "exit.1").write_text("1")  # rank 1 failed first, then the launcher stopped rank 0
    time.sleep(0.01)
    (tmp_path / "exit.0").write_text("143")
    assert _outcome(tmp_path, logs, launcher_status=1) == 1
    assert capsys.readouterr().err == "error: data/train.txt:7: unreadable image\n"


def test_ranks_that_differ_fail_loudly(tmp_path):
    """The check every checkpoint runs: rank 1 nudges one weight, the digest comparison must see it."""
    script = tmp_path / "differ.py"
    script.write_text(
        "import paddle, paddle.distributed as dist\n"
        "from ocrtrain.engine.distributed import OutOfSync, RankSync\n"
        "dist.init_parallel_env()\n"
        "paddle.seed(0)\n"
        "model = paddle.nn.Linear(4, 3)\n"
        "sync = RankSync()\n"
        "sync.check_in_sync(model, 1)\n"
        "if dist.get_rank() == 1:\n"
        "    model.weight.set_value(model.weight + 1e-7)\n"
        "try:\n"
        "    sync.check_in_sync(model, 2)\n"
        "except OutOfSync as e:\n"
        "    print('caught:', e, flush=True)\n"
    )
    log_dir = tmp_path / "log"
    launch = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--log_dir",
        str(log_dir),
        "--nproc_per_node",
        "2",
    ]
    done = subprocess.run([*launch, str(script)], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rank0 = (log_dir / "workerlog.0").read_text()
    assert "ranks in sync: 2 ranks hold identical parameters at step 1" in rank0
    assert "caught: step 2: ranks [1] hold other parameters than rank 0" in rank0
