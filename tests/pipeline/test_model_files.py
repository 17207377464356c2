"""Damaged or mismatched model directories are refused before paddle sees them, with the file named, in one line."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO

from ocrtrain import zoo
from ocrtrain.pipeline.inference_settings import zoo_inference_yml
from ocrtrain.pipeline.model_source import ModelSourceError, resolve_model_source


@pytest.fixture()
def det_copy(tmp_path):
    """A copy of the shipped PP-OCRv4 det inference dir (legacy .pdmodel, no inference.yml)."""
    target = tmp_path / "det"
    shutil.copytree(zoo.zoo_model_dir("PP-OCRv4_mobile_det"), target)
    return target


def run_infer(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ocrtrain.infer", *args, f"hydra.run.dir={cwd}/run", "save_path=null"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_truncated_params_file_is_one_line_naming_it(det_copy, demo_dir):
    params = det_copy / "inference.pdiparams"
    params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    with pytest.raises(ModelSourceError, match=rf"{params}: damaged .* runs past the end of the file"):
        resolve_model_source(str(det_copy), "det")
    proc = run_infer(
        f"input={demo_dir / 'images' / 'img_1.jpg'}", f"det_model={det_copy}", cwd=det_copy.parent
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"error: {params}: damaged or not a Paddle parameters file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_random_bytes_params_file_names_it(det_copy):
    params = det_copy / "inference.pdiparams"
    params.write_bytes(np.random.default_rng(0).bytes(params.stat().st_size))
    with pytest.raises(ModelSourceError, match=rf"{params}: damaged or not a Paddle parameters file"):
        resolve_model_source(str(det_copy), "det")


def test_garbage_graph_file_names_it(det_copy):
    """paddle itself crashes with a segmentation fault on this one."""
    graph = det_copy / "inference.pdmodel"
    graph.write_bytes(b"garbage" * 50)
    with pytest.raises(ModelSourceError, match=rf"{graph}: damaged or not a Paddle inference program"):
        resolve_model_source(str(det_copy), "det")


def test_params_of_another_model_are_refused(det_copy):
    rec_params = zoo.zoo_model_dir("PP-OCRv4_mobile_rec") / "inference.pdiparams"
    shutil.copy(rec_params, det_copy / "inference.pdiparams")
    with pytest.raises(ModelSourceError, match="do not fit the graph"):
        resolve_model_source(str(det_copy), "det")


def test_legacy_rec_dir_given_as_det_model_is_refused_at_once(tmp_path, demo_dir):
    rec_dir = tmp_path / "rec"
    shutil.copytree(zoo.zoo_model_dir("PP-OCRv4_mobile_rec"), rec_dir)
    with pytest.raises(ModelSourceError, match="holds a rec model .* but was given as the det model"):
        resolve_model_source(str(rec_dir), "det")
    proc = run_infer(f"input={demo_dir / 'images' / 'img_1.jpg'}", f"det_model={rec_dir}", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "given as the det model" in proc.stderr


def test_inference_yml_that_contradicts_the_graph_is_refused(det_copy):
    (det_copy / "inference.yml").write_text("PostProcess: {name: CTCLabelDecode, character_dict: [a, b]}\n")
    with pytest.raises(ModelSourceError, match=r"inference\.yml says rec, but the graph's output"):
        resolve_model_source(str(det_copy), "rec")


def test_legacy_det_dir_without_inference_yml_runs_with_the_family_settings(det_copy, demo_dir, capsys):
    """PaddleOCR 2.x inference downloads carry no inference.yml: a det dir still works, and says whose settings."""
    from ocrtrain import create_pipeline

    source = resolve_model_source(str(det_copy), "det")
    assert source.meta["PostProcess"]["box_thresh"] == 0.6
    assert "has no inference.yml; using PP-OCRv4_mobile_det's inference settings" in capsys.readouterr().err
    pipe = create_pipeline("OCR", det_model=str(det_copy))
    zoo_pipe = create_pipeline("OCR")
    image = str(demo_dir / "images" / "img_1.jpg")
    ours, reference = next(pipe.predict(image)), next(zoo_pipe.predict(image))
    assert ours["rec_text"] == reference["rec_text"]


def test_legacy_rec_dir_of_the_default_dictionary_reads_as_the_zoo_model(tmp_path, demo_dir, capsys):
    """A PaddleOCR 2.x rec download has no inference.yml; with the 6,625 classes of ppocr_keys_v1 + space (2.x's
    default dictionary) it is read with PP-OCRv4's settings, as PaddleOCR 2.x read it."""
    from ocrtrain import create_pipeline

    target = tmp_path / "rec"
    shutil.copytree(zoo.zoo_model_dir("PP-OCRv4_mobile_rec"), target)
    source = resolve_model_source(str(target), "rec")
    assert source.meta == zoo_inference_yml("PP-OCRv4_mobile_rec", "rec")
    assert "has no inference.yml; using PP-OCRv4_mobile_rec's inference settings" in capsys.readouterr().err
    image = str(demo_dir / "images" / "img_1.jpg")
    ours = next(create_pipeline("OCR", rec_model=str(target)).predict(image))
    assert ours["rec_text"] == next(create_pipeline("OCR").predict(image))["rec_text"]


def test_legacy_rec_dir_of_another_dictionary_asks_for_it(tmp_path):
    from ocrtrain.config import compose, to_plain
    from ocrtrain.models.builder import build_model
    from ocrtrain.models.export import save_inference

    model = build_model(to_plain(compose("train", ["rec=PP-OCRv4_mobile_rec"]).rec.arch), num_classes=97)
    model.eval()
    save_inference(model, tmp_path / "rec", [None, 3, 48, None])
    with pytest.raises(
        ModelSourceError,
        match=r"inference.yml: missing: .* This model has 97 classes, not the 6625 .*character_dict",
    ):
        resolve_model_source(str(tmp_path / "rec"), "rec")


def _rec_dir_with_dictionary(target, zoo_name: str, change: int, graph_files: dict[str, str]):
    """An exported-style rec dir of the zoo model's graph files, its dictionary ``change`` entries shorter or
    longer than the model's."""
    target.mkdir()
    for name, source in graph_files.items():
        shutil.copy(source, target / name)
    meta = zoo_inference_yml(zoo_name, "rec")
    characters = meta["PostProcess"]["character_dict"]
    meta["PostProcess"]["character_dict"] = (
        characters[:change] if change < 0 else characters + [f"extra{i}" for i in range(change)]
    )
    (target / "inference.yml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    return target


@pytest.mark.parametrize(("change", "needs"), [(-5, 6620), (5, 6630)])
def test_a_dictionary_that_does_not_fit_the_rec_graph_is_refused(tmp_path, demo_dir, change, needs):
    """Five entries short, decoding used to fail with an IndexError mid-run; five long, it read wrong text."""
    shipped = zoo.zoo_model_dir("PP-OCRv4_mobile_rec")
    rec_dir = _rec_dir_with_dictionary(
        tmp_path / "rec",
        "PP-OCRv4_mobile_rec",
        change,
        {name: shipped / name for name in ("inference.pdmodel", "inference.pdiparams")},
    )
    proc = run_infer(f"input={demo_dir / 'images' / 'img_11.jpg'}", f"rec_model={rec_dir}", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {rec_dir / 'inference.yml'}: ")
    assert f"model needs {needs} classes" in line and "graph outputs 6625" in line


def test_a_dictionary_that_does_not_fit_an_onnx_rec_graph_is_refused(tmp_path):
    pytest.importorskip("onnx")
    rec_dir = _rec_dir_with_dictionary(
        tmp_path / "rec", "PP-OCRv6_tiny_rec", -5, {"inference.onnx": zoo.zoo_onnx_file("PP-OCRv6_tiny_rec")}
    )
    with pytest.raises(ModelSourceError, match=r"inference\.yml: .* needs 6901 classes .* outputs 6906"):
        resolve_model_source(str(rec_dir), "rec", "onnxruntime")
