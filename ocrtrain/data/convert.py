"""``python -m ocrtrain.data convert <conversion>``: between ICDAR 2015, PaddleOCR det/rec labels, LMDB and crops.

Conversions (``input`` -> ``output``):
  icdar2015   a folder of ICDAR 2015 ``gt_<image>.txt`` files -> a PaddleOCR det label file
  rec-to-lmdb a PaddleOCR rec label file -> an LMDB database
  lmdb-to-rec an LMDB database -> ``images/`` + ``labels.txt``
  det-to-rec  a PaddleOCR det label file -> word crops (``crop.crop_text_region``, ``###`` skipped) + labels
PPOCRLabel output needs no conversion: ``Label.txt`` is a det label file and ``rec_gt.txt`` (with ``crop_img/``)
a rec label file, both read as they are.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
from tqdm import tqdm

from ocrtrain.crop import crop_text_region
from ocrtrain.data.common import LabelError, SkipLog, load_image
from ocrtrain.data.det_labels import det_label_line, icdar_gt_to_items
from ocrtrain.data.readers import read_labels
from ocrtrain.data.rec_labels import lmdb_to_label_file, write_lmdb
from ocrtrain.imageio import IMAGE_SUFFIXES, read_image

CONVERSIONS = ("icdar2015", "rec-to-lmdb", "lmdb-to-rec", "det-to-rec")


def _natural_key(name: str) -> list:
    """img_2 before img_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def icdar2015_to_det(gt_dir: str | Path, images_dir: str | Path, output: str | Path) -> int:
    """Write one det label line per ``gt_<stem>.txt`` whose image ``<stem>.*`` exists; paths relative to the
    label file's folder, points clipped to the image. Returns the number of lines."""
    gt_dir, images_dir, output = Path(gt_dir), Path(images_dir), Path(output)
    gt_files = sorted(gt_dir.glob("gt_*.txt"), key=lambda p: _natural_key(p.name))
    if not gt_files:
        raise FileNotFoundError(f"no ICDAR ground-truth files (gt_*.txt) in {gt_dir}")
    lines = []
    for gt in tqdm(gt_files, desc="icdar2015", unit="image"):
        stem = gt.stem.removeprefix("gt_")
        image = next(
            (images_dir / f"{stem}{s}" for s in IMAGE_SUFFIXES if (images_dir / f"{stem}{s}").is_file()), None
        )
        if image is None:
            raise FileNotFoundError(f"{gt}: no image named {stem}.* in {images_dir}")
        items = icdar_gt_to_items(gt, read_image(image).shape[:2])
        # absolute, not resolved: an images folder that is a link stays the path written
        rel = Path(os.path.relpath(os.path.abspath(image), os.path.abspath(output.parent))).as_posix()
        lines.append(det_label_line(rel, items))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def rec_to_lmdb(label_file: str | Path, root: str | Path, output: str | Path) -> int:
    samples, _ = read_labels(Path(label_file).resolve(), root, kind="rec")  # images relative to root
    return write_lmdb(samples, output)


def det_to_rec(
    label_file: str | Path, root: str | Path, output: str | Path, skip_bad: bool = False
) -> tuple[int, SkipLog]:
    """Cut every box but the don't-care ones out of its image (``crop.crop_text_region``); write ``crops/`` and
    ``labels.txt`` (one ``crops/<image stem>_<label line>_<box k>.png<TAB>text`` line per crop; the line number
    tells apart images of one name in different folders) under ``output``."""
    root, output = Path(root), Path(output)
    # the label file by its own path; the image paths inside it stay relative to root
    samples, skipped = read_labels(Path(label_file).resolve(), root, skip_bad, kind="det")
    (output / "crops").mkdir(parents=True, exist_ok=True)
    lines = []
    for sample in tqdm(samples, desc="det-to-rec", unit="image"):
        try:
            img = load_image(sample.image_path, sample.file, sample.line_no)
        except LabelError as error:
            if not skip_bad:
                raise
            skipped.add(error)
            continue
        for k, poly, text in sample.text_boxes():
            rel = f"crops/{sample.image_path.stem}_{sample.line_no}_{k}.png"
            cv2.imwrite(str(output / rel), crop_text_region(img, poly))
            lines.append(f"{rel}\t{text}")
    (output / "labels.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines), skipped


def convert(
    conversion: str,
    source: str | Path,
    output: str | Path,
    root: str | Path | None = None,
    skip_bad: bool = False,
    overwrite: bool = False,
) -> str:
    """Run one conversion; returns a summary. ``root``: what image paths in the ``source`` label file are relative
    to (default: its folder); for ``icdar2015`` the images folder (default: ``<source>/../images``). An existing
    output is replaced only with ``overwrite`` (an LMDB as a whole: no records of the old one stay behind)."""
    source, output = Path(source), Path(output)
    if not source.exists():
        raise FileNotFoundError(f"convert input not found: {source}")
    written = {"icdar2015": output, "rec-to-lmdb": output / "data.mdb"}.get(conversion, output / "labels.txt")
    if written.exists():
        if not overwrite:
            raise ValueError(
                f"{written}: exists; overwrite=true replaces it, or choose another output=<path>"
            )
        if conversion == "rec-to-lmdb":
            for name in ("data.mdb", "lock.mdb"):
                (output / name).unlink(missing_ok=True)
    if conversion == "icdar2015":
        n = icdar2015_to_det(source, root or source.parent / "images", output)
        return f"{n} label lines -> {output}"
    if conversion == "rec-to-lmdb":
        n = rec_to_lmdb(source, root or source.parent, output)
        return f"{n} samples -> LMDB {output}"
    if conversion == "lmdb-to-rec":
        return f"LMDB {source} -> {lmdb_to_label_file(source, output)}"
    if conversion == "det-to-rec":
        n, skipped = det_to_rec(source, root or source.parent, output, skip_bad)
        return f"{n} crops -> {output / 'labels.txt'}" + (f"\n{skipped.summary()}" if len(skipped) else "")
    raise ValueError(f"unknown conversion {conversion!r}; choose one of {', '.join(CONVERSIONS)}")
