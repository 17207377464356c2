"""Detection training transforms: polygon-aware augmentation, the EAST-style text-keeping crop, CopyPaste and DB
targets."""

from __future__ import annotations

import random

import albumentations as A
import cv2
import numpy as np
import pyclipper
from shapely.geometry import Polygon

from ocrtrain.crop import crop_text_region
from ocrtrain.preprocess import normalize_det, resize_det


def build_augment() -> A.Compose:
    """PaddleOCR's IaaAugment for PP-OCRv4 det (flip 0.5, rotate +-10 deg, scale 0.5-3) plus colour jitter."""
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(rotate=(-10, 10), border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0),
            A.RandomScale(scale_limit=(-0.5, 2.0), p=1.0),  # factor 1 + limit: 0.5x to 3x
            A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05, p=0.5),
        ],
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
    )


MIN_SIDE = 32  # smaller images are padded first: scaling them down by half must leave pixels to crop


def pad_to_min_side(img: np.ndarray, min_side: int = MIN_SIDE) -> np.ndarray:
    """Pad with black at the bottom and right so that both sides are at least ``min_side`` (boxes stay put)."""
    h, w = img.shape[:2]
    if h >= min_side and w >= min_side:
        return img
    return cv2.copyMakeBorder(
        img, 0, max(0, min_side - h), 0, max(0, min_side - w), cv2.BORDER_CONSTANT, value=0
    )


def augment(aug: A.Compose, img: np.ndarray, polys: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Apply ``aug`` to the image and move every polygon point with it."""
    sizes = [len(p) for p in polys]
    points = np.concatenate(polys) if polys else np.zeros((0, 2), np.float32)
    out = aug(image=img, keypoints=points)
    moved = np.asarray(out["keypoints"], dtype=np.float32).reshape(-1, 2)
    return out["image"], list(np.split(moved, np.cumsum(sizes)[:-1])) if polys else []


def _free_ranges(occupied: np.ndarray) -> list[np.ndarray]:
    """Runs of consecutive indices where ``occupied`` is 0 (no text projects onto them)."""
    free = np.where(occupied == 0)[0]
    if len(free) == 0:
        return []
    return np.split(free, np.where(np.diff(free) != 1)[0] + 1)


def _pick_span(ranges: list[np.ndarray], rng: np.random.Generator) -> tuple[int, int]:
    if len(ranges) > 1:
        a, b = rng.choice(len(ranges), 2, replace=False)
        lo, hi = sorted([int(rng.choice(ranges[a])), int(rng.choice(ranges[b]))])
    else:
        lo, hi = sorted(int(v) for v in rng.choice(ranges[0], 2))
    return lo, hi


def _inside(poly: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    return bool(((poly[:, 0] >= x0) & (poly[:, 0] <= x1) & (poly[:, 1] >= y0) & (poly[:, 1] <= y1)).all())


def _outside(poly: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    xs, ys = poly[:, 0], poly[:, 1]
    return bool(xs.max() < x0 or xs.min() > x1 or ys.max() < y0 or ys.min() > y1)


def text_keeping_crop(
    img: np.ndarray,
    polys: list[np.ndarray],
    ignore: list[bool],
    rng: np.random.Generator,
    size: int = 640,
    max_tries: int = 50,
    min_side_ratio: float = 0.1,
) -> tuple[np.ndarray, list[np.ndarray], list[bool]]:
    """EAST-style random crop whose borders never cut through text to learn, resized (ratio kept) and padded to
    size x size.

    Crop borders are drawn from rows/columns that no text to learn covers, and a crop must hold some of that text,
    as in PaddleOCR's EastRandomCropData. Don't-care text neither blocks a border nor qualifies a crop: on ICDAR 2015
    (63% of boxes are '###') letting it do both left 36.9% of training crops without a word to learn, against 2.2%.
    A polygon the crop cuts (don't-care text; text rotated past the image edge) is kept, clipped to the crop, so
    its visible part is masked or learned, never taught as background.
    """
    h, w = img.shape[:2]
    care = [p for p, ign in zip(polys, ignore, strict=True) if not ign]
    occupied_x, occupied_y = np.zeros(w, np.int32), np.zeros(h, np.int32)
    for p in care:
        x0, x1 = np.clip([np.floor(p[:, 0].min()), np.ceil(p[:, 0].max())], 0, w - 1).astype(int)
        y0, y1 = np.clip([np.floor(p[:, 1].min()), np.ceil(p[:, 1].max())], 0, h - 1).astype(int)
        occupied_x[x0 : x1 + 1] = 1
        occupied_y[y0 : y1 + 1] = 1
    free_x, free_y = _free_ranges(occupied_x), _free_ranges(occupied_y)
    box = (0, 0, w, h)
    if free_x and free_y:
        for _ in range(max_tries):
            x0, x1 = _pick_span(free_x, rng)
            y0, y1 = _pick_span(free_y, rng)
            if x1 - x0 < min_side_ratio * w or y1 - y0 < min_side_ratio * h:
                continue
            if care and not any(_inside(p, x0, y0, x1, y1) for p in care):
                continue
            box = (x0, y0, x1 - x0, y1 - y0)
            break
    x0, y0, cw, ch = box[0], box[1], max(1, box[2]), max(1, box[3])
    scale = min(size / cw, size / ch)
    crop = cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], (max(1, int(cw * scale)), max(1, int(ch * scale))))
    canvas = np.zeros((size, size, 3), img.dtype)
    canvas[: crop.shape[0], : crop.shape[1]] = crop
    right, bottom = cw * scale, ch * scale
    kept_polys, kept_ignore = [], []
    for p, ign in zip(polys, ignore, strict=True):
        q = (p - [x0, y0]) * scale
        if not _outside(q, 0, 0, right, bottom):
            kept_polys.append(np.clip(q, 0, [right, bottom]).astype(np.float32))
            kept_ignore.append(ign)
    return canvas, kept_polys, kept_ignore


def rotate_expanded(img: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``img`` rotated by ``angle`` degrees (counter-clockwise) on a canvas just large enough to hold all of it:
    the rotated image, the mask of the pixels it covers, and where its corners (tl, tr, br, bl) went."""
    h, w = img.shape[:2]
    cos, sin = abs(np.cos(np.deg2rad(angle))), abs(np.sin(np.deg2rad(angle)))
    out_w, out_h = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += [(out_w - w) / 2, (out_h - h) / 2]
    rotated = cv2.warpAffine(img, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)
    covered = cv2.warpAffine(np.ones((h, w), np.uint8), matrix, (out_w, out_h), flags=cv2.INTER_NEAREST)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return rotated, covered.astype(bool), (corners @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def copy_paste(
    img: np.ndarray,
    polys: list[np.ndarray],
    ignore: list[bool],
    donor: tuple[np.ndarray, list[np.ndarray], list[bool]],
    rng: np.random.Generator,
    ratio: float = 0.2,
    max_words: int = 30,
    max_tries: int = 50,
) -> tuple[np.ndarray, list[np.ndarray], list[bool]]:
    """PaddleOCR's CopyPaste (PP-OCRv4 det training): words of another training image (``donor``: image, polygons,
    don't-care flags) pasted onto this one as more text to learn.

    ``ratio`` x the donor's box count (at least 1, at most ``max_words``) of its words to learn are cut out, each
    turned by a random angle in [0, 360) and pasted where its rectangle overlaps no box of the image, or dropped
    after ``max_tries`` places.
    """
    donor_img, donor_polys, donor_ignore = donor
    candidates = [i for i, ign in enumerate(donor_ignore) if not ign]
    count = max(1, min(int(ratio * len(donor_polys)), max_words))
    img, polys, ignore = img.copy(), list(polys), list(ignore)
    h, w = img.shape[:2]
    for i in rng.permutation(candidates)[:count]:
        word = crop_text_region(donor_img, donor_polys[i])
        patch, covered, box = rotate_expanded(word, float(rng.integers(0, 360)))
        ph, pw = patch.shape[:2]
        if ph > h or pw > w:
            continue
        for _ in range(max_tries):
            x, y = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
            if all(_outside(p, x, y, x + pw, y + ph) for p in polys):
                img[y : y + ph, x : x + pw][covered] = patch[covered]
                polys.append(box + np.array([x, y], np.float32))
                ignore.append(False)
                break
    return img, polys, ignore


def _offset(poly: np.ndarray, distance: float) -> list[np.ndarray]:
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(poly.round().astype(np.int64).tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return [np.asarray(p, dtype=np.float32) for p in offset.Execute(distance)]


def shrink_map(
    shape: tuple[int, int],
    polys: list[np.ndarray],
    ignore: list[bool],
    ratio: float = 0.4,
    min_text_size: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """DB probability target (text kernels shrunk by D = A(1 - r^2)/L) and its mask (0 on don't-care/too-small text)."""
    gt = np.zeros(shape, np.float32)
    mask = np.ones(shape, np.float32)
    for poly, ign in zip(polys, ignore, strict=True):
        extent = poly.max(axis=0) - poly.min(axis=0)
        shape_poly = Polygon(poly)
        if ign or min(extent) < min_text_size or not shape_poly.is_valid or shape_poly.area < 1:
            cv2.fillPoly(mask, [poly.round().astype(np.int32)], 0)
            continue
        distance = shape_poly.area * (1 - ratio**2) / shape_poly.length
        shrunk = _offset(poly, -distance)
        if not shrunk or len(shrunk[0]) < 3:
            cv2.fillPoly(mask, [poly.round().astype(np.int32)], 0)
            continue
        cv2.fillPoly(gt, [shrunk[0].round().astype(np.int32)], 1)
    return gt, mask


def _segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from every grid point to the segment a-b."""
    ab = b - a
    t = ((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / max(float(ab @ ab), 1e-6)
    t = np.clip(t, 0, 1)
    return np.hypot(xs - (a[0] + t * ab[0]), ys - (a[1] + t * ab[1]))


def threshold_map(
    shape: tuple[int, int],
    polys: list[np.ndarray],
    ignore: list[bool],
    ratio: float = 0.4,
    thresh_min: float = 0.3,
    thresh_max: float = 0.7,
) -> tuple[np.ndarray, np.ndarray]:
    """DB threshold target: 1 - normalised distance to the text border inside the dilated polygon, in [min, max]."""
    h, w = shape
    canvas = np.zeros(shape, np.float32)
    mask = np.zeros(shape, np.float32)
    for poly, ign in zip(polys, ignore, strict=True):
        shape_poly = Polygon(poly)
        if ign or not shape_poly.is_valid or shape_poly.area <= 0:
            continue
        distance = shape_poly.area * (1 - ratio**2) / shape_poly.length
        padded = _offset(poly, distance)
        if not padded:
            continue
        padded = padded[0]
        cv2.fillPoly(mask, [padded.round().astype(np.int32)], 1)
        x0, y0 = np.floor(padded.min(axis=0)).astype(int)
        x1, y1 = np.ceil(padded.max(axis=0)).astype(int)
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float32)
        dist = np.min(
            [_segment_distance(xs, ys, poly[i], poly[(i + 1) % len(poly)]) for i in range(len(poly))], axis=0
        )
        score = 1 - np.clip(dist / distance, 0, 1)
        cy0, cy1, cx0, cx1 = max(y0, 0), min(y1, h - 1), max(x0, 0), min(x1, w - 1)
        if cy1 < cy0 or cx1 < cx0:
            continue
        region = score[cy0 - y0 : cy1 - y0 + 1, cx0 - x0 : cx1 - x0 + 1]
        canvas[cy0 : cy1 + 1, cx0 : cx1 + 1] = np.maximum(canvas[cy0 : cy1 + 1, cx0 : cx1 + 1], region)
    return canvas * (thresh_max - thresh_min) + thresh_min, mask


def train_geometry(
    img: np.ndarray,
    polys: list[np.ndarray],
    ignore: list[bool],
    aug: A.Compose,
    rngs: tuple[np.random.Generator, random.Random],
    size: int = 640,
) -> tuple[np.ndarray, list[np.ndarray], list[bool]]:
    """The training crop of one image (augmented, cropped to ``size``) with the polygons it keeps; every random
    choice comes from ``rngs`` (numpy, python), so one seed gives one result."""
    rng, py_random = rngs
    aug.set_random_state(rng, py_random)
    img, polys = augment(aug, pad_to_min_side(img), polys)
    return text_keeping_crop(img, polys, ignore, rng, size)


def train_targets(img: np.ndarray, polys: list[np.ndarray], ignore: list[bool]) -> dict[str, np.ndarray]:
    """A training crop (from :func:`train_geometry`) as the network input with its DB targets."""
    shape = img.shape[:2]
    shrink, shrink_mask = shrink_map(shape, polys, ignore)
    thresh, thresh_mask = threshold_map(shape, polys, ignore)
    return {
        "image": normalize_det(img),
        "shrink_map": shrink,
        "shrink_mask": shrink_mask,
        "threshold_map": thresh,
        "threshold_mask": thresh_mask,
    }


def eval_transform(
    img: np.ndarray, limit_side_len: int, limit_type: str
) -> tuple[np.ndarray, tuple[int, int]]:
    """Resize as configured and normalise; returns the network input and the original (h, w)."""
    resized, _ = resize_det(img, limit_side_len, limit_type)
    return normalize_det(resized), img.shape[:2]
