"""A bad sample or a signal ends training promptly, with the cause named, and leaves no process behind (the real
CLI, in a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DEMO

SMALL = ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo", "det.train_transform.crop_size=320"]
QUICK = ["trainer.max_steps=4", "trainer.batch_size=2", "tracking.enabled=false", "trainer.progress=false"]
STARTUP_S = 90  # imports, model build and pretrained weights on a busy 2-core machine
PROMPT_S = 10  # from the failure (or signal) to the process' exit
# a signal while an evaluation traces the model waits for the trace (a few seconds, more when busy)
TRACE_S = 10


def dataset_with(root: Path, name: str, content: bytes) -> Path:
    """A training file of a good line and, at line 2, one whose image is ``content``."""
    shutil.copytree(DEMO / "images", root / "images")
    lines = (DEMO / "train.txt").read_text().splitlines()
    (root / "images" / name).write_bytes(content)
    box = json.dumps([{"transcription": "word", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}])
    (root / "train.txt").write_text(f"{lines[0]}\nimages/{name}\t{box}\n")  # one batch of 2 holds both
    shutil.copy(DEMO / "val.txt", root / "val.txt")
    return root


def start_training(root: Path, cwd: Path, *overrides: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "ocrtrain.train", *SMALL, f"data.root={root}", *QUICK, *overrides]
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"training still running after {timeout:.0f} s (hung):\n{err[-3000:]}")
    return proc.returncode, err


def jpeg_bytes() -> bytes:
    return cv2.imencode(".jpg", cv2.imread(str(DEMO / "images" / "img_1.jpg")))[1].tobytes()


BAD_IMAGES = {
    "text.jpg": (b"this is not an image\n", "unreadable image"),
    "empty.jpg": (b"", "unreadable image"),
    "truncated.jpg": (jpeg_bytes()[:300], "unreadable image"),
}


@pytest.mark.parametrize(
    ("name", "workers"), [("text.jpg", 0), ("empty.jpg", 2), ("truncated.jpg", 2), ("text.jpg", 2)]
)
def test_a_bad_image_ends_training_with_its_file_and_line(tmp_path, name, workers):
    content, reason = BAD_IMAGES[name]
    root = dataset_with(tmp_path / "data", name, content)
    proc = start_training(root, tmp_path, f"trainer.num_workers={workers}")
    code, err = finish(proc, STARTUP_S + PROMPT_S)
    assert code == 1, err[-3000:]
    assert f"error: {root / 'train.txt'}:2: {reason}" in err and "Traceback" not in err, err[-3000:]


def test_a_one_pixel_image_with_a_box_does_not_hang(tmp_path):
    one_pixel = cv2.imencode(".png", np.full((1, 1, 3), 200, np.uint8))[1].tobytes()
    root = dataset_with(tmp_path / "data", "dot.png", one_pixel)
    code, err = finish(start_training(root, tmp_path, "trainer.num_workers=2"), STARTUP_S + 60)
    # either the degenerate image is handled and training runs, or the run names the file and line
    assert code == 0 or (code == 1 and f"error: {root / 'train.txt'}:2:" in err), err[-3000:]


def wait_for_the_run_to_start(proc: subprocess.Popen, run_root: Path) -> None:
    """Until Hydra has created the run's log (the entry point runs), plus a few seconds into start-up or training."""
    deadline = time.time() + STARTUP_S
    while time.time() < deadline and proc.poll() is None and not list(run_root.glob("*/train.log")):
        time.sleep(0.2)
    time.sleep(8)
    assert proc.poll() is None, proc.communicate()[1][-3000:]


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGTERM, 0), (signal.SIGINT, 2)])
def test_a_signal_ends_the_run_promptly_in_start_up_or_training(tmp_path, sig, workers):
    root = dataset_with(tmp_path / "data", "ok.jpg", jpeg_bytes())
    proc = start_training(root, tmp_path, f"trainer.num_workers={workers}", "trainer.max_steps=1000")
    wait_for_the_run_to_start(proc, tmp_path / "outputs" / "train")
    sent = time.time()
    proc.send_signal(sig)
    code, err = finish(proc, PROMPT_S)
    assert code == 128 + sig, err[-3000:]
    assert time.time() - sent < PROMPT_S


# an evaluation first traces the model (a few seconds), then runs the traced program over the images
@pytest.mark.parametrize("into_evaluation_s", [0.5, 4.0], ids=["tracing", "scoring"])
def test_a_signal_during_evaluation_saves_the_trained_steps(tmp_path, into_evaluation_s):
    root = dataset_with(tmp_path / "data", "ok.jpg", jpeg_bytes())
    val_line = (DEMO / "val.txt").read_text().splitlines()[0]
    (root / "val.txt").write_text(f"{val_line}\n" * 200)  # a validation set that takes a while
    proc = start_training(root, tmp_path, "trainer.num_workers=0", "trainer.max_steps=1")
    history = tmp_path / "outputs" / "train"
    deadline = time.time() + STARTUP_S
    while time.time() < deadline and proc.poll() is None:
        if any('"step": 1' in p.read_text() for p in history.glob("*/metrics.jsonl")):
            break
        time.sleep(0.1)
    time.sleep(into_evaluation_s)
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc, TRACE_S + PROMPT_S)
    assert code == 128 + signal.SIGTERM, err[-3000:]
    (state_file,) = history.glob("*/checkpoints/latest/state.json")
    state = json.loads(state_file.read_text())
    assert state["global_step"] == 1 and state["eval_pending"]  # a resumed run evaluates step 1 first


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...); None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in "ZX"  # a zombie has exited


def data_workers(proc: subprocess.Popen, count: int) -> list[int]:
    """The pids of ``proc``'s ``count`` data workers (children forked from it: the same command line), once
    they exist and the run is a few seconds into training."""
    deadline = time.time() + STARTUP_S
    while time.time() < deadline and proc.poll() is None:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()  # empty until the exec
        workers = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            fields = _stat(int(stat.parent.name))
            try:
                if (
                    fields
                    and int(fields[1]) == proc.pid
                    and (stat.parent / "cmdline").read_bytes() == cmdline
                ):
                    workers.append(int(stat.parent.name))
            except OSError:
                continue
        if len(workers) == count:
            time.sleep(3)
            return workers
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no {count} data workers within {STARTUP_S} s:\n{proc.communicate()[1][-3000:]}")


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_data_workers_die_with_a_killed_trainer(tmp_path):
    proc = start_training(DEMO, tmp_path, "trainer.num_workers=2", "trainer.max_steps=1000")
    workers = data_workers(proc, 2)
    try:
        proc.kill()  # kill -9: no cleanup of its own
        proc.wait(timeout=PROMPT_S)
        deadline = time.time() + 5
        while any(map(running, workers)) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(map(running, workers)), "data workers outlived their trainer"
    finally:
        for pid in filter(running, workers):
            os.kill(pid, signal.SIGKILL)
        proc.communicate()  # the workers held its output pipes open


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_data_workers_leave_a_signal_to_the_trainer(tmp_path):
    """SIGTERM to the process group reaches the workers too: they ignore it, and the trainer ends them."""
    proc = start_training(DEMO, tmp_path, "trainer.num_workers=2", "trainer.max_steps=1000")
    workers = data_workers(proc, 2)
    try:
        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        time.sleep(2)
        assert all(map(running, workers)) and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        code, err = finish(proc, PROMPT_S)
        assert code == 128 + signal.SIGTERM and "Traceback" not in err, err[-3000:]
        assert not any(map(running, workers))
    finally:
        for pid in filter(running, workers):
            os.kill(pid, signal.SIGKILL)
