"""What every dataset shares: file:line errors, a record of skipped samples, per-sample seeds and ratio_list
sampling."""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ocrtrain.imageio import ImageError, decode_image, probe_image, read_image, worker_message

T = TypeVar("T")
Loaded = TypeVar("Loaded")

log = logging.getLogger("ocrtrain")


class LabelError(ValueError):
    """A label line (or its image) that cannot be used; the message is ``file:line: reason``.

    Also built from that message alone, as pickling and paddle's DataLoader (re-raising a worker's error as
    ``LabelError(traceback text)``) do, so the ``file:line`` survives worker processes.
    """

    def __init__(self, path: str | Path, line_no: int | None = None, reason: str | None = None) -> None:
        if line_no is None or reason is None:
            message = worker_message(str(path), type(self))
            match = re.fullmatch(r"(.*?):(\d+): (.*)", message, re.S)
            path, line_no, reason = (match[1], int(match[2]), match[3]) if match else ("", 0, message)
        else:
            message = f"{path}:{line_no}: {reason}"
        self.path, self.line_no, self.reason = str(path), line_no, reason
        super().__init__(message)


def decode_line(raw: bytes, file: str, line_no: int) -> str:
    """A line of a UTF-8 text file, without its line break (LF or CRLF) and BOM; bytes that are not UTF-8 are a
    LabelError at ``file:line``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LabelError(
            file,
            line_no,
            f"not UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); label files must be UTF-8: "
            "re-save it as UTF-8 (e.g. iconv -f GBK -t UTF-8)",
        ) from None
    return text.rstrip("\r\n").lstrip("\ufeff")


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 text file, split at LF only: U+2028, NEL (U+0085) and the other breaks
    ``str.splitlines`` knows are characters of a transcription."""
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            yield line_no, decode_line(raw, str(path), line_no)


@dataclass
class SkipLog:
    """Lines and images skipped because the user asked for ``skip_bad``; reported, never silent."""

    problems: list[LabelError] = field(default_factory=list)

    def add(self, err: LabelError) -> None:
        self.problems.append(err)

    def __len__(self) -> int:
        return len(self.problems)

    def summary(self, limit: int = 10) -> str:
        head = "\n".join(f"  {e}" for e in self.problems[:limit])
        more = f"\n  ... and {len(self.problems) - limit} more" if len(self.problems) > limit else ""
        return f"skipped {len(self.problems)} bad line(s) or image(s) (data.skip_bad=true):\n{head}{more}"

    def log(self) -> None:
        if self.problems:
            log.warning(self.summary())


_reported_at_load: set[str] = set()  # per process: each sample skipped while training is reported once


def load_image(image: Path | bytes, file: str, line_no: int, what: str = "") -> np.ndarray:
    """A sample's image as BGR uint8; a failure is a LabelError at the sample's ``file:line``."""
    try:
        return read_image(image) if isinstance(image, Path) else decode_image(image, "encoded image")
    except ImageError as e:
        raise LabelError(file, line_no, f"{what}unreadable image: {e}") from None


def report_skipped_at_load(err: LabelError) -> None:
    """Log a sample that ``skip_bad`` replaced while training (e.g. a body damaged past a readable header)."""
    if str(err) not in _reported_at_load:
        _reported_at_load.add(str(err))
        log.warning(f"{err} (data.skip_bad=true: skipped, the next sample is used instead)")


def image_not_found(image: Path) -> str:
    """The reason for a label's image that does not exist, with the likely cause when it is a Windows path."""
    hint = " (a Windows path? label files separate folders with /)" if "\\" in str(image) else ""
    return f"image not found: {os.path.normpath(image)}{hint}"


def usable_images(
    samples: list[T], image_of: Callable[[T], Path | bytes], skip_bad: bool, skipped: SkipLog
) -> list[T]:
    """The samples whose image passes the cheap start-up probe (exists, not empty, a readable header); the others
    raise LabelError at their ``file:line``, or with ``skip_bad`` are recorded in ``skipped``."""
    verdicts: dict[Any, str | None] = {}
    usable = []
    for sample in samples:
        image = image_of(sample)
        key = image if isinstance(image, Path) else id(sample)
        if key not in verdicts:
            verdicts[key] = probe_image(image, str(image) if isinstance(image, Path) else "encoded image")
        if verdicts[key] is None:
            usable.append(sample)
            continue
        missing = isinstance(image, Path) and not image.exists()
        reason = image_not_found(image) if missing else f"unreadable image: {verdicts[key]}"
        error = LabelError(sample.file, sample.line_no, reason)
        if not skip_bad:
            raise error
        skipped.add(error)
    return usable


def load_or_next(
    samples: Sequence[T], index: int, load: Callable[[T], Loaded], skip_bad: bool
) -> tuple[T, Loaded]:
    """``samples[index]`` and what ``load`` makes of it (its image). An image that fails to load raises its
    LabelError; with ``skip_bad`` it is reported and the next sample taken instead (the same one every time: runs
    repeat)."""
    for attempt in range(len(samples)):
        sample = samples[(index + attempt) % len(samples)]
        try:
            return sample, load(sample)
        except LabelError as e:
            if not skip_bad:
                raise
            report_skipped_at_load(e)
    raise ValueError("no readable image in the dataset (data.skip_bad=true skipped them all)")


def sample_seed(*parts: int) -> int:
    """A 63-bit seed mixed from non-negative ints, e.g. (dataset seed, index) or (seed, epoch, position)."""
    return int(
        np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1)
    )


def sample_rngs(seed: int) -> tuple[np.random.Generator, random.Random]:
    """The numpy and python generators every random choice for one sample is drawn from."""
    rng = np.random.default_rng(seed)
    return rng, random.Random(int(rng.integers(2**63)))


def split_item(item: int | tuple[int, int], dataset_seed: int) -> tuple[int, int]:
    """``dataset[item]``: ``(index, sample_seed)`` as the training sampler yields it, or a bare index whose
    seed is derived from (dataset seed, index)."""
    if isinstance(item, (tuple, list)):
        index, seed = item
        return int(index), int(seed)
    return int(item), sample_seed(dataset_seed, int(item))


def split_sources(data_cfg: Any, split: str) -> tuple[list[str], list[float]]:
    """The label files of the data config's ``split`` (``train`` / ``val``) and their sampling ratios."""
    node = data_cfg[split]
    label_files = list(node.get("label_files") or [])
    if not label_files:
        raise ValueError(
            f"data.{split}.label_files is empty: name at least one label file (relative to data.root)"
        )
    return label_files, list(node.get("ratio_list") or [1.0])


def select_by_ratio(counts: list[int], ratio_list: list[float] | None, seed: int = 0) -> list[list[int]]:
    """For each label file with ``counts[i]`` samples, the indices kept under ``ratio_list[i]``.

    As in PaddleOCR, a ratio of 0.3 keeps a random 30% of that file's lines (seeded, so runs repeat);
    1.0 keeps them all in order. A single ratio applies to every file.
    """
    ratios = list(ratio_list) if ratio_list else [1.0]
    if len(ratios) == 1:
        ratios = ratios * len(counts)
    if len(ratios) != len(counts):
        raise ValueError(f"ratio_list has {len(ratios)} entries but there are {len(counts)} label files")
    rng = random.Random(seed)
    kept = []
    for n, r in zip(counts, ratios, strict=True):
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"ratio_list values must be in [0, 1], got {r}")
        kept.append(list(range(n)) if r >= 1.0 else sorted(rng.sample(range(n), round(n * r))))
    return kept
