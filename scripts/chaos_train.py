"""Kill a short detection training with SIGKILL again and again, resume it each time, and compare with a run left alone.

    python scripts/chaos_train.py [--kills 20] [--steps 40] [--workdir /tmp/chaos] [--seed 0]

Both runs train PP-OCRv4 mobile det on the bundled demo data (crops of 320, batch 2, `latest` saved every 2 steps).
The chaos run is killed at random moments: during start-up, after a step or two, or while a checkpoint is being
written (a ``.latest.tmp-<pid>`` directory exists). Each time it is resumed with ``resume=<run dir>`` (or started
afresh if it died before its first checkpoint). After ``--kills`` kills it runs to the end. Then:
  * its final global step, learning rate and weights equal the uninterrupted run's (max abs difference <= 1e-5);
  * every step's loss is logged once, in ``metrics.jsonl`` and in MLflow, equal to the uninterrupted run's;
  * no temporary or backup checkpoint directory is left.
Exit status 0 when all hold ("survived N kills"), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "datasets" / "icdar2015_demo"
TOLERANCE = 1e-5


def train_args(run_dir: Path, steps: int, seed: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ocrtrain.train",
        "det=PP-OCRv4_mobile_det",
        "data=icdar2015_demo",
        f"data.root={DEMO}",
        "det.train_transform.crop_size=320",
        f"seed={seed}",
        f"trainer.max_steps={steps}",
        "trainer.batch_size=2",
        "trainer.num_workers=0",
        "trainer.log_every_steps=1",
        "trainer.save_every_steps=2",
        f"trainer.eval_every_steps={steps}",
        "trainer.progress=false",
        f"hydra.run.dir={run_dir}",
    ]


def logged_steps(run_dir: Path) -> int:
    """How many training steps the run has logged so far."""
    history = run_dir / "metrics.jsonl"
    if not history.is_file():
        return 0
    return sum(1 for line in history.read_text().splitlines() if '"loss"' in line)


def has_checkpoint(run_dir: Path) -> bool:
    checkpoints = run_dir / "checkpoints"
    return checkpoints.is_dir() and any((d / "state.json").is_file() for d in checkpoints.iterdir())


def writing_checkpoint(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints").glob(".latest.tmp-*"))


def wait_for_moment(proc: subprocess.Popen, run_dir: Path, rng: random.Random) -> str | None:
    """Wait for a random moment to kill at; None when the process ended first."""
    kind = rng.choice(["start-up", "after steps", "checkpoint write"])
    start, steps_before = time.time(), logged_steps(run_dir)
    delay, extra_steps = rng.uniform(1.0, 12.0), rng.randint(1, 3)
    while proc.poll() is None:
        if kind == "start-up" and time.time() - start >= delay:
            return kind
        if kind == "after steps" and logged_steps(run_dir) >= steps_before + extra_steps:
            time.sleep(rng.uniform(0.0, 0.5))
            return kind
        if kind == "checkpoint write" and writing_checkpoint(run_dir):
            return kind
        if time.time() - start > 300:
            return kind
        time.sleep(0.01)
    return None


def run_to_end(args: list[str], log: Path) -> None:
    with open(log, "a") as out:
        code = subprocess.run(args, cwd=log.parent, stdout=out, stderr=out).returncode
    if code != 0:
        sys.exit(f"training failed with status {code}; see {log}")


def final_state(run_dir: Path) -> tuple[dict, dict]:
    """The state of ``latest`` and its weights, read through the project's own checkpoint loader."""

    from ocrtrain.config import compose
    from ocrtrain.engine.checkpoint import load_checkpoint
    from ocrtrain.tasks import build_task

    cfg = compose("train", ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo", f"data.root={DEMO}"])
    model = build_task(cfg).build_model()
    state = load_checkpoint(run_dir / "checkpoints" / "latest", model)
    return state, {k: v.numpy() for k, v in model.state_dict().items()}


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]


def mlflow_loss_steps(workdir: Path, run_dir: Path) -> list[int]:
    from mlflow.tracking import MlflowClient

    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    return sorted(m.step for m in client.get_metric_history(run_id, "loss"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the kill moments (training uses seed=42)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("outputs") / "chaos")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    straight, chaos, log = workdir / "straight", workdir / "chaos", workdir / "train.log"

    print(f"uninterrupted run of {args.steps} steps ...", flush=True)
    run_to_end(train_args(straight, args.steps, 42), log)

    kills, moments = 0, []
    while kills < args.kills:
        resume = [f"resume={chaos}"] if has_checkpoint(chaos) else []
        if not resume:
            shutil.rmtree(chaos, ignore_errors=True)  # died before its first checkpoint: start afresh
        with open(log, "a") as out:
            proc = subprocess.Popen(
                train_args(chaos, args.steps, 42) + resume, cwd=workdir, stdout=out, stderr=out
            )
        moment = wait_for_moment(proc, chaos, rng)
        if moment is None:
            if proc.returncode != 0:
                sys.exit(f"a resumed run failed with status {proc.returncode}; see {log}")
            print(f"the run finished after {kills} kills: use more --steps for more kills")
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        moments.append(moment)
        print(f"kill {kills:2d}/{args.kills} {moment:16s} at step {logged_steps(chaos)}", flush=True)
    if has_checkpoint(chaos):
        run_to_end(train_args(chaos, args.steps, 42) + [f"resume={chaos}"], log)
    else:
        shutil.rmtree(chaos, ignore_errors=True)
        run_to_end(train_args(chaos, args.steps, 42), log)

    problems = []
    (expected_state, expected_weights), (state, weights) = final_state(straight), final_state(chaos)
    for key in ("global_step", "epoch", "step_in_epoch"):
        if state.get(key) != expected_state.get(key):
            problems.append(f"{key}: {state.get(key)} instead of {expected_state.get(key)}")
    diff = max(float(abs(weights[k] - expected_weights[k]).max()) for k in expected_weights)
    if diff > TOLERANCE:
        problems.append(f"final weights differ by up to {diff:.2e}")
    rows = [(r["step"], r["loss"], r["lr"]) for r in history(chaos) if "loss" in r]
    expected_rows = [(r["step"], r["loss"], r["lr"]) for r in history(straight) if "loss" in r]
    if [r[0] for r in rows] != [r[0] for r in expected_rows]:
        problems.append(f"metrics.jsonl logs steps {[r[0] for r in rows]}, not each step once")
    else:
        worst_loss = max(abs(a[1] - b[1]) for a, b in zip(rows, expected_rows, strict=True))
        worst_lr = max(abs(a[2] - b[2]) for a, b in zip(rows, expected_rows, strict=True))
        if worst_loss > TOLERANCE or worst_lr > 1e-12:
            problems.append(f"losses differ by up to {worst_loss:.2e}, learning rates by {worst_lr:.2e}")
    if mlflow_loss_steps(workdir, chaos) != [r[0] for r in expected_rows]:
        problems.append(f"MLflow's loss history has steps {mlflow_loss_steps(workdir, chaos)}")
    leftovers = sorted(p.name for p in (chaos / "checkpoints").iterdir() if p.name.startswith("."))
    if leftovers:
        problems.append(f"leftover checkpoint copies: {leftovers}")

    by_kind = {k: moments.count(k) for k in sorted(set(moments))}
    print(
        f"kills by moment: {by_kind}; final step {state.get('global_step')}, max weight difference {diff:.2e}"
    )
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print(f"survived {kills} kills")
    return 0


if __name__ == "__main__":
    sys.exit(main())
