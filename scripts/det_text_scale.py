"""How tall text is in detection training crops compared with evaluation, in pixels of the network's input, and how
many training crops hold no word to learn.

    python scripts/det_text_scale.py --root DIR --train train900.txt --val dev100.txt [--crops 300] [--crop-size 640]
        [--limit-side-len 736 --limit-type min]

Training crops are drawn as training draws them (the same augmentation and text-keeping crop, one seed per crop);
evaluation images are resized as evaluation resizes them. A word's height is the short side of its minimum-area
rectangle; ``###`` boxes are left out. A fine-tune that sees text much smaller or larger than it is scored on
learns a scale it is not asked for.
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from ocrtrain.crop import box_sides
from ocrtrain.data.common import load_image, sample_rngs
from ocrtrain.data.det_transforms import build_augment, train_geometry
from ocrtrain.data.readers import read_labels
from ocrtrain.preprocess import det_resize_shape


def word_heights(polys: list[np.ndarray], ignore: list[bool], scale: float = 1.0) -> list[float]:
    return [scale * box_sides(p)[0] for p, ign in zip(polys, ignore, strict=True) if not ign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--root", required=True, help="directory the label files and image paths are relative to"
    )
    parser.add_argument(
        "--train", nargs="+", required=True, help="training label files (PaddleOCR det format)"
    )
    parser.add_argument("--val", nargs="+", required=True, help="evaluation label files")
    parser.add_argument("--crops", type=int, default=300, help="training crops to draw")
    parser.add_argument("--crop-size", type=int, default=640)
    parser.add_argument("--limit-side-len", type=int, default=736)
    parser.add_argument("--limit-type", default="min", choices=["min", "max"])
    args = parser.parse_args()

    train = [s for f in args.train for s in read_labels(f, args.root, False, kind="det")[0]]
    val = [s for f in args.val for s in read_labels(f, args.root, False, kind="det")[0]]
    aug, pick = build_augment(), np.random.default_rng(0)
    train_h: list[float] = []
    without_words = 0
    for seed in tqdm(range(args.crops), desc="training crops"):
        sample = train[int(pick.integers(len(train)))]
        img = load_image(sample.image_path, sample.file, sample.line_no)
        polys = [p.copy() for p in sample.polys]
        _, kept, ignore = train_geometry(
            img, polys, list(sample.ignore), aug, sample_rngs(seed), args.crop_size
        )
        train_h += word_heights(kept, ignore)
        without_words += all(ignore)
    val_h: list[float] = []
    for sample in tqdm(val, desc="evaluation images"):
        h, w = load_image(sample.image_path, sample.file, sample.line_no).shape[:2]
        new_h, new_w = det_resize_shape(h, w, args.limit_side_len, args.limit_type)
        val_h += word_heights(sample.polys, sample.ignore, np.sqrt(new_h / h * new_w / w))

    for name, heights in (("training crops", train_h), ("evaluation", val_h)):
        p25, p50, p75 = np.percentile(heights, [25, 50, 75])
        print(
            f"{name:15s} {len(heights):6d} words   height px: p25 {p25:5.1f}  median {p50:5.1f}  p75 {p75:5.1f}"
        )
    print(f"median ratio training / evaluation: {np.median(train_h) / np.median(val_h):.2f}")
    print(
        f"training crops without a word to learn (only don't-care text or none): {without_words} of {args.crops}"
    )


if __name__ == "__main__":
    main()
