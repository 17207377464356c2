"""`python -m ocrtrain.export format=...`: an ONNX graph beside the Paddle program of a real one-step fine-tune,
checked in ONNX Runtime against the checkpoint; ONNX-only exports; a format that does not exist; an export into a
used directory or onto a file."""

from __future__ import annotations

import re
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from conftest import REPO, run_module, run_ok

from ocrtrain.pipeline.model_source import ModelSourceError, resolve_model_source
from ocrtrain.pipeline.predictor import load_predictor

OFFLINE = ["tracking.enabled=false"]
PARITY = re.compile(r"parity checkpoint vs (?P<what>.+?): max abs diff (?P<diff>\S+) \(tolerance 1e-04\) OK")


@pytest.mark.parametrize("kind", ["det", "rec"])
def test_onnx_beside_the_paddle_files_computes_what_the_checkpoint_computes(onnx_exports, kind):
    exported = onnx_exports[kind]
    names = sorted(p.name for p in exported["export"].iterdir())
    assert names == ["inference.json", "inference.onnx", "inference.pdiparams", "inference.yml"]
    checks = {m["what"]: float(m["diff"]) for m in PARITY.finditer(exported["stdout"])}
    assert set(checks) == {"exported model", "ONNX model (onnxruntime)"}, exported["stdout"][-2000:]
    assert max(checks.values()) <= 1e-4

    session = ort.InferenceSession(
        str(exported["export"] / "inference.onnx"), providers=["CPUExecutionProvider"]
    )
    batch, channels, height, width = session.get_inputs()[0].shape
    assert channels == 3 and isinstance(width, str)  # dynamic width
    assert isinstance(height, str) if kind == "det" else height == 48  # det: dynamic height; rec: 48 rows
    # a shape other than the parity sample's runs and agrees with the Paddle program
    shape = (1, 3, 256, 416) if kind == "det" else (2, 3, 48, 560)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    paddle_out = load_predictor(
        resolve_model_source(str(exported["export"]), kind), "cpu", enable_mkldnn=False
    )(x)
    onnx_out = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert onnx_out.shape == paddle_out.shape and np.abs(onnx_out - paddle_out).max() <= 1e-4


def test_format_onnx_alone_leaves_no_paddle_program(onnx_exports, tmp_path):
    out = run_ok(
        "export",
        f"checkpoint={onnx_exports['rec']['run']}",
        f"export_dir={tmp_path}/onnx_only",
        "format=onnx",
        *OFFLINE,
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
    ).stdout
    assert [m["what"] for m in PARITY.finditer(out)] == ["ONNX model (onnxruntime)"]
    assert sorted(p.name for p in (tmp_path / "onnx_only").iterdir()) == ["inference.onnx", "inference.yml"]
    with pytest.raises(ModelSourceError, match="has only an ONNX model .*backend=onnxruntime"):
        load_predictor(resolve_model_source(str(tmp_path / "onnx_only"), "rec"), "cpu")
    image = REPO / "datasets" / "icdar2015_demo" / "images" / "img_11.jpg"
    infer = [
        f"input={image}",
        f"rec_model={tmp_path / 'onnx_only'}",
        "save_path=null",
        f"hydra.run.dir={tmp_path}/i",
    ]
    refused = run_module("infer", *infer, cwd=tmp_path)
    assert refused.returncode == 2 and "run it with backend=onnxruntime" in refused.stderr
    run_ok("infer", *infer, "backend=onnxruntime", cwd=tmp_path)  # the advice works as given
    with pytest.raises(ModelSourceError, match="holds a rec model"):
        resolve_model_source(str(tmp_path / "onnx_only"), "det", "onnxruntime")


def test_an_unknown_format_is_one_line(onnx_exports, tmp_path):
    proc = run_module(
        "export", f"checkpoint={onnx_exports['rec']['run']}", "format=paddle,tflite", *OFFLINE, cwd=tmp_path
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: format=" in proc.stderr and "expected paddle, onnx or paddle,onnx" in proc.stderr


def test_an_export_into_a_used_dir_leaves_only_the_files_of_its_formats(onnx_exports, tmp_path):
    reused = tmp_path / "reused"
    shutil.copytree(onnx_exports["det"]["export"], reused)  # Paddle program + ONNX graph of an earlier export
    (reused / "notes.txt").write_text("the user's own file\n")
    out = run_ok(
        "export", f"checkpoint={onnx_exports['det']['run']}", f"export_dir={reused}", "format=paddle", *OFFLINE,
        f"hydra.run.dir={tmp_path}/run", cwd=tmp_path,
    ).stdout  # fmt: skip
    names = sorted(p.name for p in reused.iterdir())
    assert names == ["inference.json", "inference.pdiparams", "inference.yml", "notes.txt"]
    assert f"removed inference.onnx of an earlier export from {reused}" in out


def test_an_export_dir_that_is_a_file_is_one_line(onnx_exports, tmp_path):
    a_file = tmp_path / "model.txt"
    a_file.write_text("not a directory\n")
    for export_dir in (a_file, a_file / "inference"):
        proc = run_module(
            "export", f"checkpoint={onnx_exports['det']['run']}", f"export_dir={export_dir}", *OFFLINE,
            cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert f"error: export_dir={export_dir}: {a_file} is a file, not a directory" in proc.stderr
    assert a_file.read_text() == "not a directory\n"
