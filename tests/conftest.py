"""Shared fixtures: the repository's demo data and one real pipeline per test session."""

from __future__ import annotations

import faulthandler
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "datasets" / "icdar2015_demo"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

sys.path.insert(0, str(REPO / "scripts"))  # the benchmark scripts hold the configured peer (RapidOCR)

# paddle's own handler for fatal signals prints nothing under pytest: a crash in native code would end the run with
# no trace of the test; Python's handler names the test's stack instead
paddle.disable_signal_handler()
faulthandler.enable(file=sys.__stderr__, all_threads=True)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory) -> None:
    """Tests never read or fill the user's ~/.cache/ocrtrain (zoo programs, registry downloads); subprocesses too."""
    os.environ.setdefault("OCRTRAIN_CACHE", str(tmp_path_factory.mktemp("ocrtrain_cache")))


@pytest.fixture()
def in_repo(monkeypatch) -> None:
    """Run the test from the repository root: the demo data configs' roots are relative to it."""
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def ocr_pipeline():
    from ocrtrain import create_pipeline

    return create_pipeline("OCR", device="cpu")


def render_lines(lines: list[str], font_size: int = 48, size: tuple[int, int] = (1000, 420)) -> np.ndarray:
    """White BGR image with ``lines`` written top to bottom in DejaVu Sans."""
    font_file = DEJAVU if Path(DEJAVU).is_file() else None
    if font_file is None:
        import matplotlib

        font_file = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    font = ImageFont.truetype(font_file, font_size)
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * int(font_size * 2.2)), line, fill=(0, 0, 0), font=font)
    return np.asarray(img)[:, :, ::-1].copy()


def one_bit_png(side: int) -> bytes:
    """A white 1-bit PNG of side x side pixels: tens of KB, 3 bytes a pixel once decoded to BGR."""
    data = io.BytesIO()
    Image.new("1", (side, side), 1).save(data, "PNG")
    return data.getvalue()


def run_module(module: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m ocrtrain.<module> <args>`` in ``cwd``, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", f"ocrtrain.{module}", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """``proc``, after asserting it succeeded (its output tails in the failure message)."""
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def run_ok(module: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """:func:`run_module`, asserting that it succeeded."""
    return ok(run_module(module, *args, cwd=cwd, env=env))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(*args: str, cwd: Path, env: dict | None = None) -> Iterator[tuple[int, dict]]:
    """``python -m ocrtrain.serve <args>`` on a free loopback port, once it answers /health: (port, health)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ocrtrain.serve", f"port={port}", f"hydra.run.dir={cwd}/serve_run", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    health = json.load(r)
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the service did not answer /health within 120 s"
                time.sleep(0.5)
        yield port, health
    finally:
        server.terminate()
        server.wait(timeout=30)


def post_image(port: int, image: bytes) -> dict:
    """The service's JSON answer to ``image`` posted as a raw body."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/ocr", data=image, headers={"content-type": "image/jpeg"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        return json.load(r)


@pytest.fixture(scope="session")
def onnx_exports(tmp_path_factory) -> dict[str, dict]:
    """A real one-step det and rec fine-tune on the demo data, each exported with ``format=paddle,onnx``:
    ``{"det"|"rec": {"run": run dir, "export": exported dir, "stdout": export's output}}``."""
    work = tmp_path_factory.mktemp("onnx_exports")
    runs = {
        "det": ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo", "det.train_transform.crop_size=320"],
        "rec": ["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"],
    }
    exports = {}
    for kind, model_and_data in runs.items():
        data = model_and_data[1].removeprefix("data=")
        offline = ["tracking.enabled=false"]
        run_ok(
            "train",
            *model_and_data,
            f"data.root={REPO / 'datasets' / data}",
            "trainer.max_steps=1",
            "trainer.batch_size=2",
            "trainer.num_workers=0",
            "trainer.progress=false",
            *offline,
            f"hydra.run.dir={work}/{kind}_run",
            cwd=work,
        )
        stdout = run_ok(
            "export",
            f"checkpoint={work}/{kind}_run",
            f"export_dir={work}/{kind}_exported",
            "format=paddle,onnx",
            *offline,
            f"hydra.run.dir={work}/{kind}_export_run",
            cwd=work,
        ).stdout
        exports[kind] = {"run": work / f"{kind}_run", "export": work / f"{kind}_exported", "stdout": stdout}
    return exports


def losses_around_one_step(task, model, batch: dict, lr: float) -> tuple[dict[str, float], dict[str, float]]:
    """The task's losses on ``batch`` before and after one Adam step at ``lr``, with the same dropout masks for both
    measurements (the caller puts the model in the mode to train in)."""
    import paddle

    optimizer = paddle.optimizer.Adam(learning_rate=lr, parameters=model.parameters())
    paddle.seed(1)
    before = task.loss(model, batch)
    before["loss"].backward()
    optimizer.step()
    optimizer.clear_grad()
    paddle.seed(1)
    after = task.loss(model, batch)
    return {k: float(v) for k, v in before.items()}, {k: float(v) for k, v in after.items()}


REC_DEMO = ["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"]


class StopAfter:
    """A tracker that sends the process SIGINT once step ``step`` is logged: the trainer saves and stops there."""

    def __init__(self, step: int | None):
        self.step = step

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if step == self.step and "loss" in metrics:
            os.kill(os.getpid(), signal.SIGINT)


def fit_rec_demo(
    run_dir: Path,
    stop_after: int | None = None,
    resume: str | None = None,
    overrides: tuple[str, ...] = (),
    **trainer,
) -> dict[str, np.ndarray]:
    """Four steps of 4 bundled word crops on the real PP-OCRv4 rec model, in this process (lr 1e-3, no warm-up);
    ``stop_after`` interrupts it with SIGINT after that step, ``overrides`` change the config (e.g. the data),
    ``trainer`` sets further trainer fields. Returns the weights of its ``latest`` checkpoint."""
    from ocrtrain.config import compose
    from ocrtrain.engine.trainer import Trainer, TrainerConfig
    from ocrtrain.tasks import build_task

    cfg = compose("train", [*REC_DEMO, *overrides])
    settings = {
        "max_steps": 4,
        "batch_size": 4,
        "num_workers": 0,
        "log_every_steps": 1,
        "eval_every_steps": 100,
    }
    trainer_cfg = TrainerConfig(**(settings | {"progress": False} | trainer))
    optimizer_cfg = dict(cfg.rec.optimizer) | {"lr": 1e-3, "scale_lr": False, "warmup_steps": 0}
    Trainer(
        build_task(cfg), trainer_cfg, optimizer_cfg, run_dir, tracker=StopAfter(stop_after), resume=resume
    ).fit()
    return latest_weights(run_dir)


def latest_weights(run_dir: Path) -> dict[str, np.ndarray]:
    """The model weights of a run's ``latest`` checkpoint."""
    from ocrtrain.models.weight_sources.checkpoint import read_checkpoint_weights

    return read_checkpoint_weights(run_dir / "checkpoints" / "latest").tensors
