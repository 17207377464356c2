"""What every label reader shares: file:line errors, a record of skipped lines, and ratio_list sampling."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class LabelError(ValueError):
    """A malformed label line; the message starts with ``file:line:``."""

    def __init__(self, path: str | Path, line_no: int, reason: str):
        self.path, self.line_no, self.reason = str(path), line_no, reason
        super().__init__(f"{path}:{line_no}: {reason}")


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
        return f"skipped {len(self.problems)} bad line(s):\n{head}{more}"


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


def fingerprint_label_files(data_cfg: Any) -> dict[str, dict]:
    """Per label file (or LMDB folder) of a dataset config's train and val splits: its path, line (sample)
    count and sha256 — what a model was trained and selected on."""
    files = {}
    for name in (name for split in ("train", "val") for name in data_cfg[split].label_files):
        path = Path(data_cfg.root) / name
        is_lmdb = path.is_dir()
        digest, lines = hashlib.sha256(), 0
        with open(path / "data.mdb" if is_lmdb else path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                lines += 0 if is_lmdb else chunk.count(b"\n")
        if is_lmdb:
            from ocrtrain.data.rec_labels import lmdb_count

            lines = lmdb_count(path)
        files[str(path)] = {"lines": lines, "sha256": digest.hexdigest()}
    return files


def label_kind(path: Path) -> str:
    """``det`` when the lines carry JSON box lists after the tab, ``rec`` otherwise (LMDB is always rec)."""
    if path.is_dir():
        return "rec"
    votes = Counter()
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            _, tab, payload = line.strip().partition("\t")
            if tab:
                votes["det" if payload.lstrip().startswith("[{") or payload.strip() == "[]" else "rec"] += 1
            if sum(votes.values()) >= 20:
                break
    return votes.most_common(1)[0][0] if votes else "rec"
