"""Two models evaluated on the same split (``python -m ocrtrain.eval ... compare=<model>``): the metrics side by
side, and the samples paired up so a picture can show what changed between them."""

from __future__ import annotations

from typing import Any


def paired_details(
    before: list[dict[str, Any]], after: list[dict[str, Any]], key: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The per-sample details of two evaluations, paired by ``key`` (e.g. the image path)."""
    if [d[key] for d in before] != [d[key] for d in after]:
        raise ValueError(f"the two evaluations cover different samples (compared by {key!r})")
    return list(zip(before, after, strict=True))


def metrics_table(before: dict[str, Any], after: dict[str, Any], names: tuple[str, str]) -> str:
    """The float metrics both reports have, one row each: before, after and the change."""
    keys = [k for k, v in after.items() if isinstance(v, float) and isinstance(before.get(k), float)]
    width = max([len(k) for k in keys] + [6])
    lines = [f"{'':{width}}  {'before':>8}  {'after':>8}  {'change':>8}"]
    lines += [f"{k:{width}}  {before[k]:8.4f}  {after[k]:8.4f}  {after[k] - before[k]:+8.4f}" for k in keys]
    lines += [f"before: {names[0]}", f"after:  {names[1]}"]
    return "\n".join(lines)
