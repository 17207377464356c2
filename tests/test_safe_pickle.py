"""Weight files a user hands us never run code: crafted pickles in every place we read one are refused by name."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import paddle
import pytest

from ocrtrain import safe_pickle, zoo
from ocrtrain.engine.checkpoint import load_checkpoint, save_checkpoint
from ocrtrain.models.loading import load_pretrained


class _RunsCommand:
    """Pickles to ``os.system(<touch marker>)``, as a hostile weights file would."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _write_hostile(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"backbone.conv1.conv.weight": _RunsCommand(marker)}))
    return path


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "code_ran"
    yield path
    assert not path.exists(), "the crafted pickle ran its command"


def _small_checkpoint(directory: Path) -> tuple[paddle.nn.Layer, paddle.optimizer.Optimizer]:
    model = paddle.nn.Linear(3, 2)
    optimizer = paddle.optimizer.Adam(parameters=model.parameters())
    save_checkpoint(directory, model, optimizer, {"global_step": 1})
    return model, optimizer


def test_the_pickles_we_really_read_load(tmp_path):
    model = paddle.nn.Linear(3, 2)
    paddle.save(model.state_dict(), str(tmp_path / "m.pdparams"))
    state = safe_pickle.load_arrays(tmp_path / "m.pdparams")
    assert np.array_equal(state["weight"], model.weight.numpy())
    info = safe_pickle.load(zoo.zoo_model_dir("PP-OCRv4_mobile_det") / "inference.pdiparams.info")
    assert info["conv2d_0.w_0"]["structured_name"] == "backbone.conv1.conv.weight"


def test_a_checkpoint_model_file_that_runs_code_is_refused(tmp_path, marker):
    model, _ = _small_checkpoint(tmp_path / "latest")
    _write_hostile(tmp_path / "latest" / "model.pdparams", marker)
    with pytest.raises(
        safe_pickle.UnsafeFileError, match=r"model\.pdparams: refuses to load: .*posix\.system"
    ):
        load_checkpoint(tmp_path / "latest", model)


def test_an_rng_file_that_runs_code_is_refused(tmp_path, marker):
    model, optimizer = _small_checkpoint(tmp_path / "latest")
    for name in os.listdir(tmp_path / "latest"):
        if name.startswith("rng."):
            os.remove(tmp_path / "latest" / name)
    _write_hostile(tmp_path / "latest" / "rng.pkl", marker)  # an old-style checkpoint's RNG file
    with pytest.raises(safe_pickle.UnsafeFileError, match=r"rng\.pkl: refuses to load: .*posix\.system"):
        load_checkpoint(tmp_path / "latest", model, optimizer)


def test_a_pretrained_pdparams_that_runs_code_is_refused(tmp_path, marker):
    model = paddle.nn.Linear(3, 2)
    hostile = _write_hostile(tmp_path / "best_accuracy.pdparams", marker)
    with pytest.raises(safe_pickle.UnsafeFileError, match=r"best_accuracy\.pdparams: refuses to load"):
        load_pretrained(model, hostile)


def test_a_legacy_dir_whose_info_file_runs_code_is_refused(tmp_path, marker):
    legacy = tmp_path / "legacy"
    shutil.copytree(zoo.zoo_model_dir("PP-OCRv4_mobile_det"), legacy)
    _write_hostile(legacy / "inference.pdiparams.info", marker)
    with pytest.raises(safe_pickle.UnsafeFileError, match=r"inference\.pdiparams\.info: refuses to load"):
        load_pretrained(paddle.nn.Linear(3, 2), legacy)


def test_random_bytes_are_named_as_damaged(tmp_path):
    junk = tmp_path / "model.pdparams"
    junk.write_bytes(np.random.default_rng(0).bytes(256))
    with pytest.raises(safe_pickle.UnsafeFileError, match=r"model\.pdparams: damaged or not a pickle file"):
        safe_pickle.load(junk)
