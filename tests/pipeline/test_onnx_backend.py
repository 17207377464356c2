"""pipeline.backend=onnxruntime|openvino: the same results as paddle.inference for an exported pair, for the
graphs PP-OCRv6 tiny ships (run as shipped, no Paddle program built) and for the PP-OCRv4 zoo pair (converted once),
per-model backends, and models with no ONNX graph."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_module

from ocrtrain import create_pipeline
from ocrtrain.imageio import read_image
from ocrtrain.pipeline.model_source import ModelSourceError

pytest.importorskip("onnxruntime")


def _same_results(options: dict, demo_dir, backend: str = "onnxruntime") -> None:
    paddle = create_pipeline("OCR", backend="paddle", **options)
    onnx = create_pipeline("OCR", backend=backend, **options)
    boxes = 0
    for path in sorted((demo_dir / "images").glob("*.jpg")):
        img = read_image(path)
        expected, got = paddle.predict_image(img), onnx.predict_image(img)
        assert len(got["dt_polys"]) == len(expected["dt_polys"]), path.name
        if expected["dt_polys"]:
            assert np.abs(np.array(got["dt_polys"]) - np.array(expected["dt_polys"])).max() <= 1, path.name
        assert got["rec_text"] == expected["rec_text"], path.name
        boxes += len(expected["dt_polys"])
    assert boxes >= 30  # the demo images hold text: the comparison is not of empty results


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_exported_pair_reads_the_same_on_each_onnx_backend(onnx_exports, demo_dir, backend):
    pytest.importorskip(backend)
    _same_results(
        {"det_model": str(onnx_exports["det"]["export"]), "rec_model": str(onnx_exports["rec"]["export"])},
        demo_dir,
        backend,
    )


def test_v6_tiny_runs_its_shipped_graphs_and_reads_the_same(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OCRTRAIN_CACHE", str(tmp_path / "cache"))
    create_pipeline("PP-OCRv6_tiny", backend="onnxruntime")
    assert not (tmp_path / "cache").exists()  # no Paddle program was built for ONNX Runtime
    _same_results({"det_model": "PP-OCRv6_tiny_det", "rec_model": "PP-OCRv6_tiny_rec"}, demo_dir)


def test_each_model_takes_its_own_backend(onnx_exports, tmp_path, demo_dir):
    """An ONNX-only recogniser on onnxruntime next to the shipped PP-OCRv4 detector on paddle."""
    onnx_only = tmp_path / "rec_onnx_only"
    onnx_only.mkdir()
    for name in ("inference.onnx", "inference.yml"):
        (onnx_only / name).write_bytes((onnx_exports["rec"]["export"] / name).read_bytes())
    mixed = create_pipeline("OCR", rec_model=str(onnx_only), rec_backend="onnxruntime")
    (result,) = mixed.predict(str(demo_dir / "images" / "img_1.jpg"))
    assert len(result["rec_text"]) >= 3 and any(result["rec_text"])
    with pytest.raises(ModelSourceError, match="has only an ONNX model"):
        create_pipeline("OCR", rec_model=str(onnx_only))


def test_v4_zoo_models_are_converted_once_and_read_the_same(demo_dir, tmp_path, monkeypatch, capfd):
    """The PP-OCRv4 names and the orientation classifier ship as legacy Paddle programs: an ONNX engine gets a
    converted graph, built once into the cache and checked; it reads the demo images as the shipped programs do on
    paddle."""
    pytest.importorskip("paddle2onnx")
    monkeypatch.setenv("OCRTRAIN_CACHE", str(tmp_path / "cache"))
    options = {"use_textline_orientation": True}
    create_pipeline("OCR", backend="onnxruntime", **options)
    built = sorted((tmp_path / "cache" / "zoo").iterdir())
    assert [p.name.rsplit("-", 2)[0] for p in built] == [
        "PP-OCRv4_mobile_det",
        "PP-OCRv4_mobile_rec",
        "ch_ppocr_mobile_v2_cls",
    ]
    assert all((p / "inference.onnx").is_file() for p in built)
    assert capfd.readouterr().err.count("building the ONNX graph") == 3
    stamps = [(p / "inference.onnx").stat().st_mtime_ns for p in built]
    _same_results(options, demo_dir)  # the second use takes the cached graphs
    assert "building" not in capfd.readouterr().err
    assert [(p / "inference.onnx").stat().st_mtime_ns for p in built] == stamps


def test_a_model_without_an_onnx_graph_says_how_to_get_one(onnx_exports, demo_dir, tmp_path):
    paddle_only = tmp_path / "det_paddle_only"
    paddle_only.mkdir()
    for name in ("inference.json", "inference.pdiparams", "inference.yml"):
        (paddle_only / name).write_bytes((onnx_exports["det"]["export"] / name).read_bytes())
    with pytest.raises(ModelSourceError, match=r"det_paddle_only: has no ONNX model .*format=paddle,onnx"):
        create_pipeline("OCR", det_model=str(paddle_only), backend="onnxruntime")
    proc = run_module(
        "infer",
        f"input={demo_dir / 'images' / 'img_1.jpg'}",
        f"det_model={paddle_only}",
        "pipeline.backend=onnxruntime",
        "save_path=null",
        cwd=tmp_path,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(errors) == 1 and "has no ONNX model" in errors[0] and "export" in errors[0], proc.stderr[
        -2000:
    ]


def test_auto_picks_the_fastest_engine_that_can_run_each_model(onnx_exports, demo_dir):
    from ocrtrain.pipeline.model_source import resolve_model_source
    from ocrtrain.pipeline.predictor import auto_backend

    pytest.importorskip("openvino")
    exported = resolve_model_source(str(onnx_exports["det"]["export"]), "det", "auto")
    assert auto_backend(exported) == "openvino"
    assert auto_backend(exported, "gpu:0") == "paddle"  # OpenVINO runs on the CPU only here
    assert auto_backend(resolve_model_source("PP-OCRv4_mobile_det", "det", "auto")) == "openvino"  # converted
    v6 = resolve_model_source(
        "PP-OCRv6_tiny_rec", "rec", "auto"
    )  # its shipped graph, no Paddle program built
    assert v6.model_file is None and auto_backend(v6) == "openvino"
    models = {
        "det_model": str(onnx_exports["det"]["export"]),
        "rec_model": str(onnx_exports["rec"]["export"]),
    }
    image = str(demo_dir / "images" / "img_1.jpg")
    (auto,) = create_pipeline("OCR", backend="auto", **models).predict(image)
    (paddle,) = create_pipeline("OCR", backend="paddle", **models).predict(image)
    assert auto["rec_text"] == paddle["rec_text"] and auto["rec_text"]
