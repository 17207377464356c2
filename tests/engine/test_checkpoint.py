"""Checkpoints: every intermediate state of the atomic save recovers to a complete copy, leftovers of dead
processes are cleaned up, the data is on the disk before the state file and the swap, an empty model file is
refused, and RNG states round-trip exactly as JSON."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from ocrtrain.engine.checkpoint import (
    STATE_FILE,
    find_checkpoint,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from ocrtrain.models.weights import WeightsError


def _model() -> paddle.nn.Layer:
    return paddle.nn.Sequential(paddle.nn.Linear(3, 4), paddle.nn.BatchNorm1D(4), paddle.nn.Linear(4, 2))


def _save(directory: Path, step: int) -> Path:
    return save_checkpoint(directory, _model(), None, {"global_step": step})


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _step(path: Path) -> int:
    return read_state(path)["global_step"]


@pytest.fixture
def ckpts(tmp_path) -> Path:
    return tmp_path / "run" / "checkpoints"


def test_killed_while_writing_the_temp_copy_keeps_the_previous_checkpoint(ckpts):
    _save(ckpts / "latest", 10)
    partial = ckpts / f".latest.tmp-{_dead_pid()}"
    shutil.copytree(ckpts / "latest", partial)
    (partial / STATE_FILE).write_text('{"global_step": 2', encoding="utf-8")  # cut mid-write
    assert find_checkpoint(ckpts.parent) == ckpts / "latest"
    _save(ckpts / "latest", 20)
    assert not partial.exists() and _step(find_checkpoint(ckpts.parent)) == 20


def test_killed_before_the_first_rename_uses_the_complete_temp_copy(ckpts):
    """The first save of a run killed before its final rename: only the temp copy exists (issue 10, item 11)."""
    _save(ckpts / "latest", 10)
    temp = ckpts / f".latest.tmp-{_dead_pid()}"
    (ckpts / "latest").rename(temp)
    assert find_checkpoint(ckpts.parent) == temp
    assert _step(temp) == 10


def test_killed_between_the_renames_uses_the_newest_copy(ckpts):
    _save(ckpts / "latest", 10)
    (ckpts / "latest").rename(ckpts / ".latest.old")  # step 10 moved aside
    _save(ckpts / "other", 20)
    temp = ckpts / f".latest.tmp-{_dead_pid()}"
    (ckpts / "other").rename(temp)  # step 20 complete, not yet renamed
    assert find_checkpoint(ckpts.parent) == temp
    _save(ckpts / "latest", 30)  # the next save promotes step 20 first, then replaces it
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest"]
    assert _step(ckpts / "latest") == 30


def test_killed_while_deleting_the_old_copy(ckpts):
    _save(ckpts / "latest", 20)
    _save(ckpts / "spare", 10)
    (ckpts / "spare").rename(ckpts / ".latest.old")
    (ckpts / ".latest.old" / STATE_FILE).unlink()  # half deleted
    assert find_checkpoint(ckpts.parent) == ckpts / "latest"
    _save(ckpts / "latest", 30)
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest"]


def test_only_an_old_copy_left(ckpts):
    _save(ckpts / "latest", 10)
    (ckpts / "latest").rename(ckpts / ".latest.old")
    assert find_checkpoint(ckpts.parent) == ckpts / ".latest.old"
    _save(ckpts / "latest", 11)
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest"] and _step(ckpts / "latest") == 11


def test_a_live_process_temp_copy_is_left_alone(ckpts):
    _save(ckpts / "latest", 10)
    live = ckpts / f".latest.tmp-{os.getppid()}"
    shutil.copytree(ckpts / "latest", live)
    (live / STATE_FILE).write_text(json.dumps({"global_step": 99}), encoding="utf-8")
    assert find_checkpoint(ckpts.parent) == ckpts / "latest"  # another process is still writing it
    _save(ckpts / "latest", 11)
    assert live.exists()


def test_nothing_complete_is_no_checkpoint(ckpts):
    partial = ckpts / f".latest.tmp-{_dead_pid()}"
    partial.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint here"):
        find_checkpoint(ckpts.parent)


def test_a_weights_file_given_as_a_checkpoint_points_to_pretrained(tmp_path):
    """PaddleOCR resumes from best_accuracy.pdparams; here that file is a start, not a run to continue."""
    weights = tmp_path / "best_accuracy.pdparams"
    paddle.save({"w": paddle.zeros([1])}, str(weights))
    with pytest.raises(FileNotFoundError, match=f"start from its weights with pretrained={weights}"):
        find_checkpoint(weights)


def test_an_empty_model_file_is_refused(tmp_path):
    model = _model()
    save_checkpoint(tmp_path / "latest", model, None, {"global_step": 1})
    paddle.save({}, str(tmp_path / "latest" / "model.pdparams"))
    with pytest.raises(
        WeightsError, match=r"only 0\.0% of the model's tensors were found in .*model\.pdparams"
    ):
        load_checkpoint(tmp_path / "latest", _model())


def test_resume_restores_model_optimizer_and_every_random_generator_exactly(tmp_path):
    model = _model()
    optimizer = paddle.optimizer.Adam(parameters=model.parameters())
    model(paddle.randn([4, 3])).mean().backward()
    optimizer.step()
    random.seed(1), np.random.seed(2), paddle.seed(3)
    save_checkpoint(tmp_path / "latest", model, optimizer, {"global_step": 1})
    assert not list((tmp_path / "latest").glob("*.pkl"))
    expected = (random.random(), np.random.rand(), paddle.rand([3]).numpy())

    fresh = _model()
    fresh_optimizer = paddle.optimizer.Adam(parameters=fresh.parameters())
    random.seed(9), np.random.seed(9), paddle.seed(9)
    assert load_checkpoint(tmp_path / "latest", fresh, fresh_optimizer) == {"global_step": 1}
    assert (random.random(), np.random.rand()) == expected[:2]
    assert np.array_equal(paddle.rand([3]).numpy(), expected[2])
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), name


def test_an_old_checkpoint_with_a_pickled_rng_file_still_resumes(tmp_path):
    """Checkpoints written before rng.json hold rng.pkl: it is read with the data-only unpickler."""
    import pickle

    model = _model()
    optimizer = paddle.optimizer.Adam(parameters=model.parameters())
    save_checkpoint(tmp_path / "latest", model, optimizer, {"global_step": 1})
    random.seed(1), np.random.seed(2), paddle.seed(3)
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "paddle": paddle.get_rng_state()}
    (tmp_path / "latest" / "rng.json").unlink()
    (tmp_path / "latest" / "rng.pkl").write_bytes(pickle.dumps(states))
    expected = (random.random(), np.random.rand(), paddle.rand([3]).numpy())
    random.seed(9), np.random.seed(9), paddle.seed(9)
    fresh = _model()
    load_checkpoint(tmp_path / "latest", fresh, paddle.optimizer.Adam(parameters=fresh.parameters()))
    assert (random.random(), np.random.rand()) == expected[:2]
    assert np.array_equal(paddle.rand([3]).numpy(), expected[2])


def test_a_damaged_state_file_is_named(tmp_path):
    _save(tmp_path / "latest", 1)
    (tmp_path / "latest" / STATE_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"latest/state\.json: damaged, not JSON"):
        read_state(tmp_path / "latest")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names synced files through /proc/self/fd")
def test_a_checkpoint_is_on_the_disk_before_its_state_file_declares_it_and_swapped_in_durably(
    ckpts, monkeypatch
):
    """A rename can reach the disk before the data it names: after a power loss such a checkpoint would look
    complete and hold zeros. What is flushed, and when, is seen through os.fsync (called through)."""
    tmp = (ckpts / f".latest.tmp-{os.getpid()}").resolve()
    final = ckpts.resolve() / "latest"
    synced = []  # (path, the temp copy's state file written yet, the new copy in place yet)
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        synced.append((path, (tmp / STATE_FILE).exists(), (final / STATE_FILE).exists()))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    _save(ckpts / "latest", 5)
    flushed_first = {p.name for p, state_written, _ in synced if p.parent == tmp and not state_written}
    assert flushed_first == {p.name for p in final.iterdir()} - {STATE_FILE}
    assert (tmp / STATE_FILE, True, False) in synced and (tmp, True, False) in synced
    assert (final.parent, False, True) in synced  # the renames


def test_a_checkpoint_of_another_dictionary_is_refused_by_name(tmp_path):
    """eval checkpoint=<run> data.dict=<another>: the classifier cannot hold the checkpoint's columns; this used to
    surface as a parity failure between two random starts."""
    from ocrtrain.config import compose, to_plain
    from ocrtrain.models.builder import build_model

    arch = to_plain(compose("train", ["rec=PP-OCRv4_mobile_rec"]).rec.arch)
    save_checkpoint(tmp_path / "latest", build_model(arch, num_classes=6625), None, {"global_step": 1})
    with pytest.raises(
        WeightsError, match=r"head\.ctc_head\.fc\.weight is \[120, 6625\].*is data\.dict the run's\?"
    ):
        load_checkpoint(tmp_path / "latest", build_model(arch, num_classes=97))
