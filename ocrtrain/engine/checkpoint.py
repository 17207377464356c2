"""Checkpoints that a crash cannot corrupt: model + optimizer + scheduler + step + RNG states, written atomically.

A checkpoint is a directory (``latest/``, ``best/``) holding ``model.pdparams``, ``optimizer.pdopt``, ``rng.json``
and ``state.json`` (and ``dict.txt`` for recognition). ``save_checkpoint`` writes ``.<name>.tmp-<pid>`` first,
``state.json`` last (its presence marks a complete copy), then swaps it in: ``<name>`` -> ``.<name>.old``,
tmp -> ``<name>``, delete ``.old``. Every file is fsynced before ``state.json`` is written, and ``state.json``, the
copy and its parent directory after, so a power loss cannot leave a state file declaring data that never reached
the disk. A kill at any moment leaves at least one complete copy among the three;
``find_checkpoint`` picks the newest complete one and the next save promotes it and deletes the leftovers of dead
processes. Nothing read here runs code: weights go through the data-only unpickler, RNG states are JSON.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from ocrtrain import safe_pickle
from ocrtrain.models.loading import load_weights
from ocrtrain.models.weight_sources.checkpoint import MODEL_FILE, STATE_FILE, read_checkpoint_weights
from ocrtrain.models.weight_sources.pdparams import PdparamsFile
from ocrtrain.models.weights import WeightsError

__all__ = ["STATE_FILE", "find_checkpoint", "load_checkpoint", "read_state", "save_checkpoint"]

OPTIMIZER_FILE = "optimizer.pdopt"
RNG_FILE = "rng.json"
LEGACY_RNG_FILE = "rng.pkl"  # written before rng.json; read with the data-only unpickler
_GENERATOR_STATE = type(paddle.get_rng_state()[0])


def capture_rng() -> dict[str, Any]:
    """Python, numpy and paddle generator states as JSON-serialisable lists."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), pos, has_gauss, cached],
        "paddle": [list(s.__getstate__()) for s in paddle.get_rng_state()],
    }


def _generator_state(values: list[Any]) -> Any:
    state = _GENERATOR_STATE.__new__(_GENERATOR_STATE)
    state.__setstate__(tuple(values))
    return state


def restore_rng(states: dict[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, np.uint32), pos, has_gauss, cached))
    paddle.set_rng_state(
        [s if isinstance(s, _GENERATOR_STATE) else _generator_state(s) for s in states["paddle"]]
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: damaged, not JSON ({e})") from e


def _read_rng(checkpoint: Path) -> dict[str, Any]:
    if (checkpoint / RNG_FILE).is_file():
        return _read_json(checkpoint / RNG_FILE)
    legacy = checkpoint / LEGACY_RNG_FILE
    return safe_pickle.load(legacy, [(_GENERATOR_STATE.__module__, _GENERATOR_STATE.__name__)])


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


# ---- the atomic swap and its recovery ----------------------------------------------------------------------------
def _complete_step(directory: Path) -> int | None:
    """The global step of a complete checkpoint directory, None if it is incomplete or absent."""
    try:
        state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (directory / MODEL_FILE).is_file() or not isinstance(state, dict):
        return None
    return int(state.get("global_step") or 0)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_copies(directory: Path, dead_only: bool) -> list[Path]:
    """``.<name>.tmp-<pid>`` siblings (of dead processes only, with ``dead_only``)."""
    prefix = f".{directory.name}.tmp-"
    found = []
    for path in directory.parent.glob(f"{prefix}*"):
        pid = path.name[len(prefix) :]
        if not pid.isdigit():
            continue
        if not dead_only or (int(pid) != os.getpid() and not _pid_alive(int(pid))):
            found.append(path)
    return found


def _old_copy(directory: Path) -> Path:
    return directory.with_name(f".{directory.name}.old")


def _newest_complete(directory: Path) -> Path | None:
    """The complete copy with the highest step among ``directory``, its dead temp copies and ``.old``
    (``directory`` itself on a tie)."""
    candidates = [directory, *_temp_copies(directory, dead_only=True), _old_copy(directory)]
    best, best_step = None, -1
    for candidate in candidates:
        step = _complete_step(candidate)
        if step is not None and step > best_step:
            best, best_step = candidate, step
    return best


def _recover(directory: Path) -> None:
    """Make ``directory`` the newest complete copy, then delete ``.old`` and dead processes' temp copies."""
    newest = _newest_complete(directory)
    if newest is not None and newest != directory:
        shutil.rmtree(directory, ignore_errors=True)
        newest.rename(directory)
    for leftover in [*_temp_copies(directory, dead_only=True), _old_copy(directory)]:
        shutil.rmtree(leftover, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Put a file's data, or a directory's entries, on the disk (a rename alone may reach it before the data)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    directory: Path,
    model: paddle.nn.Layer,
    optimizer: paddle.optimizer.Optimizer | None,
    state: dict[str, Any],
    extra_files: dict[str, str] | None = None,
    extra_tensors: dict[str, dict[str, paddle.Tensor]] | None = None,
) -> Path:
    """Write a complete checkpoint to ``directory`` atomically. ``state`` must be JSON-serialisable;
    ``extra_files`` are texts and ``extra_tensors`` state dicts (e.g. the weight average) saved by file name."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    _recover(directory)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    paddle.save(model.state_dict(), str(tmp / MODEL_FILE))
    if optimizer is not None:
        paddle.save(optimizer_state(model, optimizer), str(tmp / OPTIMIZER_FILE))
    (tmp / RNG_FILE).write_text(json.dumps(capture_rng()), encoding="utf-8")
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    for name, tensors in (extra_tensors or {}).items():
        paddle.save(tensors, str(tmp / name))
    for written in tmp.iterdir():  # on the disk before the state file that declares them complete
        _fsync(written)
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")  # last
    _fsync(tmp / STATE_FILE)
    _fsync(tmp)
    old = _old_copy(directory)
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    _fsync(directory.parent)  # the renames themselves
    shutil.rmtree(old, ignore_errors=True)
    return directory


def find_checkpoint(path: Path) -> Path:
    """A complete checkpoint from a checkpoint directory or a run directory (its ``checkpoints/latest``),
    including the copy a killed save left behind (see the module docstring). Reads only."""
    path = Path(path)
    for candidate in (path, path / "checkpoints" / "latest", path / "latest"):
        found = _newest_complete(candidate)
        if found is not None:
            return found
    if PdparamsFile.claims(str(path)):
        raise FileNotFoundError(
            f"{path}: a weights file, not an ocrtrain checkpoint (a run or checkpoint directory): start from its "
            f"weights with pretrained={path}"
        )
    raise FileNotFoundError(
        f"{path}: no checkpoint here (looked for a complete {STATE_FILE} in it and in checkpoints/latest)"
    )


def read_state(checkpoint: Path) -> dict[str, Any]:
    return _read_json(Path(checkpoint) / STATE_FILE)


def load_checkpoint(
    checkpoint: Path, model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer | None = None
) -> dict[str, Any]:
    """Restore model (and optimizer and RNG states when given an optimizer); returns the saved state.

    Raises ``safe_pickle.UnsafeFileError`` for a file that would run code or is damaged, and
    ``models.weights.WeightsError`` when the model file lacks most of the model's tensors or holds one of another
    shape (both ValueErrors naming the file).
    """
    checkpoint = Path(checkpoint)
    report = load_weights(model, read_checkpoint_weights(checkpoint), adapt=False)
    report.raise_if_poor()
    if report.shape_mismatched:  # a checkpoint is loaded into the model it was saved from, or not at all
        name, want, got = report.shape_mismatched[0]
        hint = (
            " (a recogniser's classifier has a column per character: is data.dict the run's?)"
            if "ctc" in name
            else ""
        )
        raise WeightsError(
            f"{checkpoint}: {name} is {list(got)} there but {list(want)} in the model this config builds: the config "
            f"differs from the one the checkpoint was trained with{hint}"
        )
    if optimizer is not None:
        set_optimizer_state(model, optimizer, safe_pickle.load_arrays(checkpoint / OPTIMIZER_FILE))
        restore_rng(_read_rng(checkpoint))
    return read_state(checkpoint)
