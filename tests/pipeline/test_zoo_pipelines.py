"""The PP-OCRv5 mobile and PP-OCRv6 small/tiny pipelines: zoo names that ship as ONNX run as a Paddle program built
once into the user's cache; they read what the shipped ONNX graphs read (ONNX Runtime), at the shipped settings."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import render_lines

from ocrtrain import create_pipeline
from ocrtrain.imageio import read_image
from ocrtrain.pipeline.model_source import resolve_model_source
from ocrtrain.zoo import zoo_onnx_file

ort = pytest.importorskip("onnxruntime")

PIPELINES = ["PP-OCRv5_mobile", "PP-OCRv6_small", "PP-OCRv6_tiny"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def zoo_cache(tmp_path_factory):
    """One cache for this module's pipelines (each model is built once here, as a user's first use would)."""
    with pytest.MonkeyPatch.context() as mp:
        cache = tmp_path_factory.mktemp("ocrtrain_cache")
        mp.setenv("OCRTRAIN_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="module")
def pipelines(zoo_cache):
    return {}


def _pipeline(pipelines: dict, name: str):
    if name not in pipelines:
        pipelines[name] = create_pipeline(name)
    return pipelines[name]


def _onnx_runner(model: str):
    session = ort.InferenceSession(str(zoo_onnx_file(model)), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {input_name: batch.astype(np.float32)})[0]


def test_v6_small_reads_a_rendered_line(pipelines):
    line = "Invoice 2026-11-24 total 1234.56"
    (result,) = list(_pipeline(pipelines, "PP-OCRv6_small").predict(render_lines([line], size=(1000, 140))))
    assert result["rec_text"] == [line]
    assert min(result["rec_score"]) > 0.9


@pytest.mark.parametrize("name", PIPELINES)
def test_pipeline_reads_what_the_shipped_onnx_reads(pipelines, demo_dir, name):
    """Same pre/post-processing, ONNX Runtime on the shipped graphs in place of our exported programs."""
    ours = _pipeline(pipelines, name)
    reference = copy.copy(ours)
    reference.det, reference.rec = _onnx_runner(f"{name}_det"), _onnx_runner(f"{name}_rec")
    img = read_image(demo_dir / "images" / "img_1.jpg")
    got, expected = ours.predict_image(img), reference.predict_image(img)
    assert len(expected["dt_polys"]) >= 3
    assert len(got["dt_polys"]) == len(expected["dt_polys"])
    assert np.abs(np.array(got["dt_polys"]) - np.array(expected["dt_polys"])).max() <= 1
    assert got["rec_text"] == expected["rec_text"]


@pytest.mark.parametrize("name", ["PP-OCRv6_small", "PP-OCRv6_tiny"])
def test_shipped_inference_settings_are_in_effect(pipelines, name):
    shipped = yaml.safe_load((zoo_onnx_file(f"{name}_det").parent / "inference.yml").read_text("utf-8"))
    db = _pipeline(pipelines, name).db_config
    for key in ("thresh", "box_thresh", "unclip_ratio", "max_candidates"):
        assert getattr(db, key) == shipped["PostProcess"][key], key
    assert (db.thresh, db.box_thresh, db.unclip_ratio) == (0.2, {"small": 0.45, "tiny": 0.4}[name[9:]], 1.4)
    # a pipeline value still wins over the model's own
    assert create_pipeline(name, det_box_thresh=0.7).db_config.box_thresh == 0.7


def test_the_program_is_built_once_then_taken_from_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OCRTRAIN_CACHE", str(tmp_path))
    first = resolve_model_source("PP-OCRv6_tiny_rec", "rec")
    assert capsys.readouterr().err.count("building the Paddle program of PP-OCRv6_tiny_rec") == 1
    built = first.params_file.stat().st_mtime_ns
    assert first.params_file.is_relative_to(tmp_path / "zoo")
    second = resolve_model_source("PP-OCRv6_tiny_rec", "rec")
    assert "building" not in capsys.readouterr().err
    assert second.params_file == first.params_file and second.params_file.stat().st_mtime_ns == built
    assert [p.name for p in (tmp_path / "zoo").iterdir()] == [first.params_file.parent.name]  # no leftovers


def _truncate(data: bytes) -> bytes:
    return data[:1000]  # as a full disk would leave it


def _flip_bytes(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


@pytest.mark.parametrize("damage", [_truncate, _flip_bytes], ids=["truncated", "same size, bytes changed"])
def test_a_damaged_cached_program_is_rebuilt(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv("OCRTRAIN_CACHE", str(tmp_path))
    params = resolve_model_source("PP-OCRv6_tiny_rec", "rec").params_file
    built = params.read_bytes()
    params.write_bytes(damage(built))
    capsys.readouterr()
    source = resolve_model_source("PP-OCRv6_tiny_rec", "rec")
    err = capsys.readouterr().err
    assert f"is damaged ({params} is not the file that was built); rebuilding" in err
    assert source.params_file.read_bytes() == built
    (result,) = list(
        create_pipeline("OCR", rec_model="PP-OCRv6_tiny_rec").predict(render_lines(["Cached 42"]))
    )
    assert result["rec_text"] == ["Cached 42"]


def test_infer_command_runs_a_zoo_pipeline(zoo_cache, tmp_path):
    """Inside the infer Hydra app, the model configs are composed too."""
    image = tmp_path / "line.png"
    import cv2

    cv2.imwrite(str(image), render_lines(["Hello 2026"], size=(600, 140)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocrtrain.infer",
            "pipeline=PP-OCRv6_tiny",
            f"input={image}",
            f"save_path={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "OCRTRAIN_CACHE": str(zoo_cache)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Hello 2026" in (tmp_path / "line_ocr.json").read_text("utf-8")
