"""``python -m ocrtrain.data split``: a deterministic train/val(/test) split of label files, written as label files."""

from __future__ import annotations

import random
from pathlib import Path

from ocrtrain.data.common import text_lines


def split_lines(lines: list[str], ratios: list[float], seed: int) -> list[list[str]]:
    """Shuffle with ``seed`` and cut by ``ratios`` (normalised to sum 1); each part keeps the input's order.

    The same lines, ratios and seed give the same split on every machine (``random.Random`` is portable).
    """
    if not 2 <= len(ratios) <= 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"split ratios must be 2 or 3 non-negative numbers, got {list(ratios)}")
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    total = sum(ratios)
    bounds = [round(len(lines) * sum(ratios[: k + 1]) / total) for k in range(len(ratios))]
    parts, start = [], 0
    for end in bounds:
        parts.append([lines[i] for i in sorted(order[start:end])])
        start = end
    return parts


def split_label_files(
    inputs: list[str | Path],
    output_dir: str | Path,
    ratios: list[float],
    seed: int = 0,
    names: tuple[str, ...] = ("train", "val", "test"),
    overwrite: bool = False,
) -> dict[str, Path]:
    """Split the non-empty lines of ``inputs`` (concatenated) into ``<output_dir>/train.txt``, ``val.txt``
    (and ``test.txt`` for three ratios). Lines are copied verbatim (ended by ``\\n``), so image paths keep their
    meaning when ``output_dir`` is the data root the inputs were written for. An input is never overwritten, an
    existing output only with ``overwrite``; both are checked before anything is written."""
    lines = []
    for path in map(Path, inputs):
        if not path.is_file():
            raise FileNotFoundError(f"label file not found: {path}")
        lines += [line for _, line in text_lines(path) if line.strip()]
    if not lines:
        raise ValueError(f"no label lines in {[str(p) for p in inputs]}")
    parts = split_lines(lines, ratios, seed)
    output_dir = Path(output_dir)
    outputs = {name: output_dir / f"{name}.txt" for name in names[: len(parts)]}
    for path in outputs.values():
        if any(path.exists() and path.samefile(given) for given in inputs):
            raise ValueError(
                f"{path}: is an input of this split; write the split elsewhere with output=<folder>"
            )
        if path.exists() and not overwrite:
            raise ValueError(f"{path}: exists; overwrite=true replaces it, or choose another output=<folder>")
    output_dir.mkdir(parents=True, exist_ok=True)
    for path, part in zip(outputs.values(), parts, strict=True):
        path.write_text("".join(line + "\n" for line in part), encoding="utf-8")
    return outputs
