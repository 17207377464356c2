"""`python -m ocrtrain.infer`: results, saved config round trip, and clean errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from ocrtrain.config_schema import ConfigError
from ocrtrain.pipeline import load_pipeline_config


def run_infer(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ocrtrain.infer", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=300,
    )


def test_infer_prints_result_and_saves_files(demo_dir, tmp_path):
    image = demo_dir / "images" / "img_1.jpg"
    proc = run_infer(f"input={image}", f"save_path={tmp_path}", f"hydra.run.dir={tmp_path}/run")
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["img_path"] == str(image) and "Carpark" in printed["rec_text"]
    assert (tmp_path / "img_1_ocr.json").is_file() and (tmp_path / "img_1_ocr.png").is_file()
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()


def test_inputs_of_the_same_name_keep_both_results_and_save_path_is_a_folder(demo_dir, tmp_path):
    """x.jpg and x.png used to be saved under one name, the second result overwriting the first."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(demo_dir / "images" / "img_1.jpg", photos / "x.jpg")
    shutil.copy(demo_dir / "images" / "img_11.jpg", photos / "x.png")  # a JPEG named .png still decodes
    out = tmp_path / "out" / "res.png"  # a folder, though its name has a suffix
    proc = run_infer(f"input={photos}", f"save_path={out}", f"hydra.run.dir={tmp_path}/run")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "x_ocr.json",
        "x_ocr.png",
        "x_png_ocr.json",
        "x_png_ocr.png",
    ]
    saved = {f: json.loads((out / f).read_text("utf-8")) for f in ("x_ocr.json", "x_png_ocr.json")}
    assert saved["x_ocr.json"]["img_path"] == str(photos / "x.jpg")
    assert saved["x_png_ocr.json"]["img_path"] == str(photos / "x.png")
    assert "Carpark" in saved["x_ocr.json"]["rec_text"] and saved["x_png_ocr.json"]["rec_text"]

    existing = tmp_path / "res.json"
    existing.write_text("{}")
    proc = run_infer(f"input={photos / 'x.jpg'}", f"save_path={existing}", f"hydra.run.dir={tmp_path}/run2")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: save_path={existing}: is an existing file; save_path is the folder the results go to "
        "(<input name>_ocr.json and .png)"
    ]
    assert existing.read_text() == "{}"


def test_saved_pipeline_config_loads_back_and_command_line_wins(demo_dir, tmp_path):
    dumped = run_infer("--cfg", "job", "pipeline.det_box_thresh=0.95", "pipeline.rec_batch_size=2")
    assert dumped.returncode == 0, dumped.stderr
    saved = tmp_path / "my_ocr.yaml"
    saved.write_text(dumped.stdout)
    assert yaml.safe_load(dumped.stdout)["pipeline"]["det_box_thresh"] == 0.95

    # the saved thresholds apply: a 0.95 box threshold keeps only the most confident boxes
    image = demo_dir / "images" / "img_1.jpg"
    strict = run_infer(f"pipeline={saved}", f"input={image}", "save_path=null", f"hydra.run.dir={tmp_path}/a")
    assert strict.returncode == 0, strict.stderr
    loose = run_infer(
        f"pipeline={saved}",
        f"input={image}",
        "save_path=null",
        "pipeline.det_box_thresh=0.6",
        f"hydra.run.dir={tmp_path}/b",
    )
    assert loose.returncode == 0, loose.stderr
    n_strict, n_loose = len(json.loads(strict.stdout)["dt_polys"]), len(json.loads(loose.stdout)["dt_polys"])
    assert n_strict < n_loose == 7

    from ocrtrain import create_pipeline

    pipe = create_pipeline(str(saved))
    assert pipe.cfg.det_box_thresh == 0.95 and pipe.cfg.rec_batch_size == 2
    assert create_pipeline(str(saved), det_box_thresh=0.5).cfg.det_box_thresh == 0.5

    # the dump's shortcuts at the top are read too (they were ignored): over its pipeline node, under the command line
    edited = tmp_path / "edited.yaml"
    edited.write_text(dumped.stdout.replace("\ndet_model: null", "\ndet_model: PP-OCRv6_tiny_det"))
    assert create_pipeline(str(edited)).cfg.det_model == "PP-OCRv6_tiny_det"
    assert (
        create_pipeline(str(edited), det_model="PP-OCRv4_mobile_det").cfg.det_model == "PP-OCRv4_mobile_det"
    )


def test_missing_device_is_one_clear_line(demo_dir, tmp_path):
    proc = run_infer(
        f"input={demo_dir / 'images' / 'img_1.jpg'}", "device=npu:0", f"hydra.run.dir={tmp_path}"
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "error: device 'npu:0' was requested" in proc.stderr


def test_missing_input_file_is_one_clear_line(tmp_path):
    proc = run_infer(f"input={tmp_path / 'missing.png'}", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"error: {tmp_path / 'missing.png'}: no such file" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "error: input is required: give input=..."),
        (("input=[]",), "error: input=[] names no image"),
        (("input=ftp://example.com/a.png",), "error: ftp://example.com/a.png: ftp:// URLs are not read"),
    ],
)
def test_no_usable_input_is_one_clear_line(tmp_path, args, message):
    """No input used to be a Hydra traceback, ``input=[]`` exited 0 having done nothing, and an ftp URL was read as
    the missing file ``ftp:/example.com/a.png``."""
    proc = run_infer(*args, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr


def test_pipeline_settings_are_checked_when_the_config_is_loaded(demo_dir, tmp_path):
    """A typo in a saved pipeline file used to be ignored silently, and bad values crashed mid-run (division by zero,
    range()) or found nothing; now each is one line naming the key (and the file and line)."""
    image = demo_dir / "images" / "img_1.jpg"
    typo = tmp_path / "typo.yaml"
    typo.write_text("rec_batch_size: 4\ndet_box_thres: 0.99\n")
    proc = run_infer(f"pipeline={typo}", f"input={image}", "save_path=null", f"hydra.run.dir={tmp_path}/a")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: {typo.resolve()}:2: det_box_thres: unknown setting (did you mean det_box_thresh?)"
    ]
    proc = run_infer("pipeline.rec_width_multiple=0", f"input={image}", f"hydra.run.dir={tmp_path}/b")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: pipeline.rec_width_multiple: must be a positive integer, got 0"
    ]

    bad_value = tmp_path / "bad_value.yaml"
    bad_value.write_text("det_box_thresh: abc\n")
    with pytest.raises(ConfigError, match=rf"^{bad_value}:1: det_box_thresh: must be a number in \[0, 1\]"):
        load_pipeline_config(bad_value)
    for key, value, says in [
        ("rec_batch_size", 0, "must be a positive integer, got 0"),
        ("det_limit_side_len", 0, "must be a positive integer or null, got 0"),
        ("det_limit_type", "maximum", "must be one of max, min, resize_long or null"),
        ("use_textline_orientation", "yes", "must be true or false, got 'yes'"),
    ]:
        with pytest.raises(ConfigError, match=rf"^pipeline\.{key}: {re.escape(says)}"):
            load_pipeline_config("OCR", **{key: value})
