"""Reading pickled weight files without running their code.

``.pdparams`` / ``.pdopt`` (what ``paddle.save`` writes) and ``.pdiparams.info`` are pickles, and a pickle may name
any importable callable to run while it loads (``os.system``...). This unpickler admits only what real weight files
hold: numpy arrays, dtypes and scalars, plain containers, strings and numbers. Anything else is refused before it
is called, with an error that names the file and the refused global.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# (module, name) pairs that rebuild numpy data: paddle.save stores each tensor as an ndarray
NUMPY_GLOBALS = frozenset(
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
) | {("numpy", "ndarray"), ("numpy", "dtype")}


class UnsafeFileError(ValueError):
    """A file that asks to run code (or is not a pickle at all) where only data is allowed."""


class _DataOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, source: Path, allowed: frozenset[tuple[str, str]]) -> None:
        super().__init__(file)
        self._source, self._allowed = source, allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise UnsafeFileError(
                f"{self._source}: refuses to load: it asks to run {module}.{name}; "
                "weights files may hold only tensors, numbers, strings, lists and dicts"
            )
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeFileError(f"{self._source}: refuses to load: it references external objects ({pid!r})")


def load(path: str | Path, extra_globals: Iterable[tuple[str, str]] = ()) -> Any:
    """Unpickle ``path`` admitting only numpy data (plus ``extra_globals``); never runs other code."""
    path = Path(path)
    allowed = NUMPY_GLOBALS | frozenset(extra_globals)
    try:
        with open(path, "rb") as f:
            return _DataOnlyUnpickler(f, path, allowed).load()
    except UnsafeFileError:
        raise
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated, random bytes, not a pickle
        raise UnsafeFileError(f"{path}: damaged or not a pickle file ({type(e).__name__}: {e})") from e


def load_arrays(path: str | Path) -> dict[str, Any]:
    """A ``paddle.save``d state dict (``.pdparams``, ``.pdopt``): string keys, numpy arrays and plain values."""
    state = load(path)
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise UnsafeFileError(f"{path}: not a state dict (a pickled dict keyed by tensor names)")
    return state
