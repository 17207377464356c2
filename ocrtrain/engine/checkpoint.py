"""Checkpoints that a crash cannot corrupt: model + optimizer + scheduler + step + RNG states, written atomically.

A checkpoint is a directory (``latest/``, ``best/``) holding ``model.pdparams``, ``optimizer.pdopt``, ``state.json``
and ``rng.pkl`` (and ``dict.txt`` for recognition). It is written to a temporary sibling first and swapped in with
renames, so a kill at any moment leaves either the old or the new checkpoint complete.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import paddle

STATE_FILE = "state.json"


def capture_rng() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "paddle": paddle.get_rng_state()}


def restore_rng(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    paddle.set_rng_state(states["paddle"])


def _rename_accumulators(state: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Rename optimizer accumulators (``<param name>_moment1_0``...) by the longest parameter-name prefix."""
    names = sorted(mapping, key=len, reverse=True)
    out = {}
    for key, value in state.items():
        prefix = next((n for n in names if key.startswith(n + "_")), None)
        out[key if prefix is None else mapping[prefix] + key[len(prefix) :]] = value
    return out


def optimizer_state(model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer) -> dict[str, Any]:
    """The optimizer state keyed by structured parameter names (``backbone.conv1.weight``), not paddle's
    process-global unique names (``conv2d_3.w_0``), so it loads into a model built in another order or process."""
    to_structured = {p.name: f"@{n}" for n, p in model.named_parameters()}
    return _rename_accumulators(optimizer.state_dict(), to_structured)


def set_optimizer_state(
    model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer, state: dict[str, Any]
) -> None:
    to_unique = {f"@{n}": p.name for n, p in model.named_parameters()}
    optimizer.set_state_dict(_rename_accumulators(state, to_unique))


def save_checkpoint(
    directory: Path,
    model: paddle.nn.Layer,
    optimizer: paddle.optimizer.Optimizer | None,
    state: dict[str, Any],
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write a complete checkpoint to ``directory`` atomically. ``state`` must be JSON-serialisable."""
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    paddle.save(model.state_dict(), str(tmp / "model.pdparams"))
    if optimizer is not None:
        paddle.save(optimizer_state(model, optimizer), str(tmp / "optimizer.pdopt"))
    with open(tmp / "rng.pkl", "wb") as f:
        pickle.dump(capture_rng(), f)
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    # state.json last: its presence marks a complete checkpoint
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def find_checkpoint(path: Path) -> Path:
    """A checkpoint directory from itself, a run directory (its ``checkpoints/latest``) or a half-swapped save."""
    path = Path(path)
    for candidate in (path, path / "checkpoints" / "latest", path / "latest"):
        if (candidate / STATE_FILE).is_file():
            return candidate
        backup = candidate.with_name(f".{candidate.name}.old")
        if (backup / STATE_FILE).is_file():  # killed between the two renames of save_checkpoint
            return backup
    raise FileNotFoundError(
        f"{path}: no checkpoint here (looked for {STATE_FILE} in it and in checkpoints/latest)"
    )


def read_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((Path(checkpoint) / STATE_FILE).read_text(encoding="utf-8"))


def load_checkpoint(
    checkpoint: Path, model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer | None = None
) -> dict[str, Any]:
    """Restore model (and optimizer and RNG states when given an optimizer); returns the saved state."""
    checkpoint = Path(checkpoint)
    model.set_state_dict(paddle.load(str(checkpoint / "model.pdparams")))
    if optimizer is not None:
        set_optimizer_state(model, optimizer, paddle.load(str(checkpoint / "optimizer.pdopt")))
        with open(checkpoint / "rng.pkl", "rb") as f:
            restore_rng(pickle.load(f))
    return read_state(checkpoint)
