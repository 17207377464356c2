"""``python -m ocrtrain.data check``: validate every label line and image, and show what the data looks like.

Problems (the line or image cannot be used as written) are listed as ``file:line: reason`` and make the check
fail. Findings (usable, but likely not what the user wants: duplicates, train/val overlap, characters missing
from the dictionary, labels too long) are reported and fail the check only with ``data.strict=true``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from ocrtrain.crop import box_sides
from ocrtrain.data.common import LabelError, image_not_found
from ocrtrain.data.dictionary import CharDict, dictionary_report
from ocrtrain.data.readers import label_kind, reader_for
from ocrtrain.data.readers.base import DetSample
from ocrtrain.imageio import ImageError, decode_image
from ocrtrain.sheets import GREEN, GREY, caption_sheet, draw_polygons, image_sheet


@dataclass
class CheckOptions:
    crop_size: int = 640  # det training crop
    min_text_size: int = 8  # det: boxes with a shorter side are don't-care in the DB targets
    max_text_length: int = 25  # rec
    rec_width_ratio: float = 320 / 48  # rec: wider crops are squeezed into the 48 x 320 input
    samples: int = 8  # per split, on the sample sheet
    workers: int = 4  # image reading threads (OpenCV decodes without the GIL)


@dataclass
class Entry:
    """One usable label line: where it came from, its image, and its boxes (det) or text (rec)."""

    source: str
    image: Path | bytes
    polys: list[np.ndarray] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    ignore: list[bool] = field(default_factory=list)
    height: int = 0
    width: int = 0
    md5: str = ""


def _read_lines(root: Path, label_file: str, kind: str, problems: list[str]) -> list[Entry]:
    """Every usable line of a label source; each bad one is a problem (``file:line: reason``), and so is a source
    without a single line."""
    bad_lines = len(problems)
    try:
        reader = reader_for(root / label_file, root, kind)
        samples = [sample for _, _, sample in reader.read(lambda e: problems.append(str(e)))]
    except (LabelError, FileNotFoundError, ValueError) as e:
        problems.append(str(e))
        return []
    if not samples and len(problems) == bad_lines:
        problems.append(f"{root / label_file}: empty, no label lines")
    return [
        Entry(s.source, s.image_path, s.polys, s.texts, s.ignore)
        if isinstance(s, DetSample)
        else Entry(s.source, s.image, texts=[s.text])
        for s in samples
    ]


def _probe(image: Path | bytes, source: str) -> tuple[int, int, str] | str:
    """(height, width, md5) of an image, or the reason it cannot be used."""
    if isinstance(image, Path) and not image.is_file():
        return image_not_found(image)
    data = image.read_bytes() if isinstance(image, Path) else image
    try:
        img = decode_image(data, str(image) if isinstance(image, Path) else source)
    except ImageError as e:
        return f"unreadable image: {e}"
    return img.shape[0], img.shape[1], hashlib.md5(data).hexdigest()


def _validate_boxes(entry: Entry, problems: list[str]) -> None:
    ignored = entry.ignore or [False] * len(entry.polys)
    for k, (poly, text, ignore) in enumerate(zip(entry.polys, entry.texts, ignored, strict=True)):
        outside = (
            (poly[:, 0] < 0) | (poly[:, 1] < 0) | (poly[:, 0] > entry.width) | (poly[:, 1] > entry.height)
        )
        if outside.any() and not ignore:  # a don't-care box is only masked, where it is in the image
            x, y = poly[outside][0]
            problems.append(
                f"{entry.source}: box {k} ({text!r}): point ({x:g}, {y:g}) outside the "
                f"{entry.width}x{entry.height} image"
            )
        if abs(cv2.contourArea(poly.astype(np.float32))) <= 0:
            problems.append(f"{entry.source}: box {k} ({text!r}): zero area")


def _distribution(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    v = np.asarray(values, np.float64)
    q = np.percentile(v, [5, 50, 95])
    return {
        "count": len(v),
        "min": float(v.min()),
        "p5": q[0],
        "median": q[1],
        "p95": q[2],
        "max": float(v.max()),
    }


def _split_stats(kind: str, entries: list[Entry], char_dict: CharDict, opts: CheckOptions) -> dict[str, Any]:
    stats: dict[str, Any] = {"lines": len(entries), "images": len({e.md5 for e in entries})}
    if kind == "det":
        boxes = [(p, t, i) for e in entries for p, t, i in zip(e.polys, e.texts, e.ignore, strict=True)]
        sides = [box_sides(p) for p, _, _ in boxes]
        short, long = [s[0] for s in sides], [s[1] for s in sides]
        aspects = [
            b / a for a, b in zip(short, long, strict=True) if a >= 1
        ]  # degenerate boxes have no aspect
        texts = [t for _, t, i in boxes if not i]
        stats.update(
            boxes=len(boxes),
            dont_care_share=sum(i for _, _, i in boxes) / max(len(boxes), 1),
            images_without_boxes=sum(1 for e in entries if not e.polys),
            box_short_side_px=_distribution(short),
            box_long_side_over_crop=_distribution([x / opts.crop_size for x in long]),
            share_below_min_text_size=sum(s < opts.min_text_size for s in short) / max(len(short), 1),
            share_longer_than_crop=sum(x > opts.crop_size for x in long) / max(len(long), 1),
            box_aspect_ratio=_distribution(aspects),
        )
        plots = {
            "box short side (px)": short,
            f"box long side / crop {opts.crop_size}": [x / opts.crop_size for x in long],
            "box aspect ratio (long/short)": aspects,
        }
    else:
        texts = [e.texts[0] for e in entries]
        aspects = [e.width / max(e.height, 1) for e in entries]
        stats.update(
            image_height_px=_distribution([e.height for e in entries]),
            image_aspect_ratio=_distribution(aspects),
            share_wider_than_input=sum(a > opts.rec_width_ratio for a in aspects) / max(len(aspects), 1),
        )
        plots = {"crop height (px)": [e.height for e in entries], "crop aspect ratio (w/h)": aspects}
    stats["text_length"] = _distribution([len(t) for t in texts])
    plots["text length"] = [len(t) for t in texts]
    report = dictionary_report([(t, "") for t in texts], char_dict, opts.max_text_length)
    used = Counter(c for t in texts for c in t)
    stats["characters"] = {
        "distinct": len(used),
        "coverage": 1 - sum(report.missing.values()) / max(sum(used.values()), 1),
        "missing": dict(report.missing.most_common(50)),
    }
    if kind == "rec":
        stats["longer_than_max_text_length"] = sum(len(t) > opts.max_text_length for t in texts)
    stats["_plots"] = plots
    return stats


def _identity(kind: str, entry: Entry) -> Any:
    """What makes two lines the same sample: the image (det), or the image and its text (rec: blank crops repeat)."""
    return entry.md5 if kind == "det" else (entry.md5, entry.texts[0])


def _duplicates(kind: str, entries: list[Entry]) -> list[list[str]]:
    groups = defaultdict(list)
    for e in entries:
        groups[_identity(kind, e)].append(e.source)
    return [sources for sources in groups.values() if len(sources) > 1]


def _plot(plots: dict[str, list[float]], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(plots), figsize=(4.2 * len(plots), 3.2))
    for ax, (name, values) in zip(np.atleast_1d(axes), plots.items(), strict=True):
        ax.hist(values, bins=40, color="#3b7dd8")
        ax.set_title(name, fontsize=10)
        ax.set_ylabel("count")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _sample_sheet(kind: str, entries: list[Entry], opts: CheckOptions, path: Path) -> Path | None:
    picks = [
        entries[i] for i in np.linspace(0, len(entries) - 1, min(opts.samples, len(entries))).astype(int)
    ]
    if not picks:
        return None
    images = []
    for e in picks:
        data = e.image.read_bytes() if isinstance(e.image, Path) else e.image
        images.append(decode_image(data, e.source))  # as training reads it (16-bit, alpha, grey)
    if kind == "rec":
        rows = [
            (img, [(e.texts[0], (0, 120, 0)), (e.source, (120, 120, 120))])
            for img, e in zip(images, picks, strict=True)
        ]
        return caption_sheet(rows, path)
    for img, e in zip(images, picks, strict=True):
        draw_polygons(img, [p for p, i in zip(e.polys, e.ignore, strict=True) if not i], GREEN)
        draw_polygons(img, [p for p, i in zip(e.polys, e.ignore, strict=True) if i], GREY)
        cv2.putText(img, Path(e.source).name, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 255), 2)
    return image_sheet(images, path)


def _file_and_line(problem: str) -> tuple[str, int]:
    match = re.match(r"(.*?):(\d+):", problem)
    return (match[1], int(match[2])) if match else (problem, 0)


def check_dataset(
    root: str | Path,
    splits: dict[str, list[str]],
    out_dir: str | Path,
    kind: str = "auto",
    char_dict: CharDict | None = None,
    opts: CheckOptions | None = None,
    strict: bool = False,
    optional: Collection[str] = (),
) -> dict[str, Any]:
    """Check the label files of each split (``{"train": [...], "val": [...]}``); writes the report and pictures.

    A missing label file is a problem, except that a split in ``optional`` none of whose label files exists is
    left out (``report["skipped_splits"]``): checking a val file needs no train file the user did not name. When
    no label file exists at all, that is the error.
    """
    root, out_dir, opts = Path(root), Path(out_dir), opts or CheckOptions()
    absent = {
        name: [str(root / f) for f in files]
        for name, files in splits.items()
        if not any((root / f).exists() for f in files)
    }
    if len(absent) == len(splits):
        raise FileNotFoundError(f"no label file found: {', '.join(p for ps in absent.values() for p in ps)}")
    missing = {name: paths for name, paths in absent.items() if name in optional}
    splits = {name: files for name, files in splits.items() if name not in missing}
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "auto":
        existing = [root / f for files in splits.values() for f in files if (root / f).exists()]
        kind = label_kind(
            next((p for p in existing if p.stat().st_size), existing[0])
        )  # an empty file tells nothing
    if kind not in ("det", "rec"):
        raise ValueError(f"kind must be det, rec or auto, got {kind!r}")
    char_dict = char_dict or CharDict.pretrained()
    problems: list[str] = []
    entries = {
        name: [e for f in files for e in _read_lines(root, f, kind, problems)]
        for name, files in splits.items()
    }

    everything = [e for split in entries.values() for e in split]
    with ThreadPoolExecutor(opts.workers) as pool:
        probes = list(
            tqdm(
                pool.map(_probe, [e.image for e in everything], [e.source for e in everything]),
                total=len(everything),
                desc="check",
                unit="img",
            )
        )
    usable = {name: [] for name in entries}
    split_of = [name for name, split in entries.items() for _ in split]
    for entry, probe, name in zip(everything, probes, split_of, strict=True):
        if isinstance(probe, str):
            problems.append(f"{entry.source}: {probe}")
            continue
        entry.height, entry.width, entry.md5 = probe
        if kind == "det":
            _validate_boxes(entry, problems)
        usable[name].append(entry)

    findings: list[str] = []
    report: dict[str, Any] = {
        "kind": kind,
        "root": str(root),
        "splits": {},
        "skipped_splits": missing,
        "pictures": [],
    }
    for name, split in usable.items():
        stats = _split_stats(kind, split, char_dict, opts)
        plots = stats.pop("_plots")
        stats["duplicates"] = _duplicates(kind, split)
        for group in stats["duplicates"]:
            findings.append(
                f"{name}: the same image{' and text' if kind == 'rec' else ''} on {', '.join(group)}"
            )
        if stats["characters"]["missing"]:
            missing = "".join(list(stats["characters"]["missing"])[:20])
            findings.append(f"{name}: characters not in the dictionary: {missing!r}")
        if stats.get("longer_than_max_text_length"):
            findings.append(
                f"{name}: {stats['longer_than_max_text_length']} labels longer than {opts.max_text_length}"
            )
        report["splits"][name] = stats
        if split:
            report["pictures"].append(
                str(_plot(plots, f"{name} ({kind})", out_dir / f"{name}_histograms.png"))
            )
            sheet = _sample_sheet(kind, split, opts, out_dir / f"{name}_samples.png")
            report["pictures"].append(str(sheet))
    if "train" in usable and "val" in usable:
        in_train = {_identity(kind, e): e.source for e in usable["train"]}
        overlap = [(in_train[k], e.source) for e in usable["val"] if (k := _identity(kind, e)) in in_train]
        report["train_val_overlap"] = [list(pair) for pair in overlap]
        findings += [f"train/val overlap: {a} is also {b}" for a, b in overlap]
    problems.sort(key=_file_and_line)
    report.update(problems=problems, findings=findings, ok=not problems and not (strict and findings))
    (out_dir / "check_report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return report


def summary_table(report: dict[str, Any]) -> str:
    """The report as a plain text table, one column per split."""
    names = list(report["splits"])
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, fmt: Any) -> None:
        rows.append((label, [fmt(report["splits"][n]) for n in names]))

    def dist(key: str, digits: int = 1) -> Any:
        return lambda s: (
            "-"
            if not s[key].get("count")
            else f"{s[key]['p5']:.{digits}f} / {s[key]['median']:.{digits}f} / {s[key]['p95']:.{digits}f}"
        )

    add("label lines", lambda s: str(s["lines"]))
    add("distinct images", lambda s: str(s["images"]))
    if report["kind"] == "det":
        add("boxes", lambda s: str(s["boxes"]))
        add("don't-care share", lambda s: f"{s['dont_care_share']:.1%}")
        add("images without boxes", lambda s: str(s["images_without_boxes"]))
        add("box short side px (p5/50/95)", dist("box_short_side_px"))
        add("  share < min_text_size", lambda s: f"{s['share_below_min_text_size']:.1%}")
        add("box long side / crop", dist("box_long_side_over_crop", 2))
        add("  share longer than crop", lambda s: f"{s['share_longer_than_crop']:.1%}")
        add("box aspect ratio", dist("box_aspect_ratio"))
    else:
        add("crop height px (p5/50/95)", dist("image_height_px"))
        add("crop aspect w/h", dist("image_aspect_ratio"))
        add("  share wider than 320/48", lambda s: f"{s['share_wider_than_input']:.1%}")
        add("longer than max_text_length", lambda s: str(s["longer_than_max_text_length"]))
    add("text length (p5/50/95)", dist("text_length", 0))
    add("distinct characters", lambda s: str(s["characters"]["distinct"]))
    add("dictionary coverage", lambda s: f"{s['characters']['coverage']:.2%}")
    add("duplicate groups", lambda s: str(len(s["duplicates"])))
    width = max(len(label) for label, _ in rows)
    cols = [max([len(n)] + [len(v[i]) for _, v in rows]) for i, n in enumerate(names)]
    lines = [" " * width + "  " + "  ".join(n.rjust(c) for n, c in zip(names, cols, strict=True))]
    lines += [
        label.ljust(width) + "  " + "  ".join(v.rjust(c) for v, c in zip(vals, cols, strict=True))
        for label, vals in rows
    ]
    return "\n".join(lines)
