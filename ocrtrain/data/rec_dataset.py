"""The recognition dataset: label files, LMDB databases and detection labels (their word crops), mixed by
ratio_list and encoded with a dictionary."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
from paddle.io import Dataset

from ocrtrain.crop import crop_text_region, turn_upright
from ocrtrain.data.common import (
    SkipLog,
    load_image,
    load_or_next,
    sample_rngs,
    select_by_ratio,
    split_item,
    usable_images,
)
from ocrtrain.data.dictionary import CharDict, DictionaryReport, dictionary_report
from ocrtrain.data.readers import read_labels
from ocrtrain.data.readers.base import DetSample, RecSample, TextRegion
from ocrtrain.preprocess import resize_norm_rec


class CutRows(A.ImageOnlyTransform):
    """Cut 1-8 rows off the top or the bottom of a line at least 20 px high and wide (the text stays whole)."""

    def get_params(self) -> dict[str, Any]:
        return {"rows": self.py_random.randint(1, 8), "top": self.py_random.random() < 0.5}

    def apply(self, img: np.ndarray, rows: int, top: bool, **params: Any) -> np.ndarray:
        h, w = img.shape[:2]
        if h < 20 or w < 20:
            return img
        return img[rows:] if top else img[: h - rows]


def build_rec_augment(prob: float) -> A.Compose:
    """PaddleOCR's RecAug for PP-OCRv4 rec, each part with probability ``prob`` (0.4 there): a geometric warp
    (there TIA's distort, stretch and perspective; here a small perspective and affine), rows cut off the top or
    bottom, a 5x5 Gaussian blur with sigma 1 and colour inversion. Its noise, brightness and shift augmentations
    are left out: at its settings they change a pixel by under one grey level. Nothing cuts into a line's ends: the
    label names every character, so a crop that cuts off the first or last one teaches a wrong reading."""
    return A.Compose(
        [
            A.Sequential(
                [
                    A.Perspective(scale=(0.02, 0.05), fit_output=True, p=1.0),
                    A.Affine(
                        rotate=(-5, 5),
                        shear=(-8, 8),
                        fit_output=True,
                        border_mode=cv2.BORDER_REPLICATE,
                        p=1.0,
                    ),
                ],
                p=prob,
            ),
            CutRows(p=prob),
            A.GaussianBlur(blur_limit=(5, 5), sigma_limit=(1.0, 1.0), p=prob),
            A.InvertImg(p=prob),
        ]
    )


MIN_SIDE = 16  # smaller crops are scaled up before augmentation (a perspective warp of a 1-pixel crop fails)


def scale_to_min_side(img: np.ndarray, min_side: int = MIN_SIDE) -> np.ndarray:
    """Scale up (aspect kept) so that both sides are at least ``min_side``."""
    h, w = img.shape[:2]
    if h >= min_side and w >= min_side:
        return img
    scale = min_side / min(h, w)
    return cv2.resize(img, (max(min_side, round(w * scale)), max(min_side, round(h * scale))))


def as_rec_samples(sample: DetSample | RecSample) -> list[RecSample]:
    """A rec sample as it is; a det sample's boxes (but the don't-care ones) as word regions of its image."""
    if isinstance(sample, RecSample):
        return [sample]
    return [
        RecSample(TextRegion(sample.image_path, poly, k), text, sample.file, sample.line_no)
        for k, poly, text in sample.text_boxes()
    ]


def _image_file(sample: RecSample) -> Path | bytes:
    return sample.image.image_path if isinstance(sample.image, TextRegion) else sample.image


def load_rec_crop(sample: RecSample) -> tuple[np.ndarray, bool]:
    """The sample's image, or the word region cut out of its det image (``crop.crop_text_region``); and whether
    that region was tall and turned upright (``crop.turn_upright``)."""
    if isinstance(sample.image, TextRegion):
        region = sample.image
        img = load_image(region.image_path, sample.file, sample.line_no, f"box {region.box}: ")
        return turn_upright(crop_text_region(img, region.poly, rotate_ratio=None))
    return load_image(sample.image, sample.file, sample.line_no), False


def load_rec_image(sample: RecSample) -> np.ndarray:
    """The sample's image as ``load_rec_crop`` cuts it."""
    return load_rec_crop(sample)[0]


class RecDataset(Dataset):
    """Items: ``image`` 3 x height x width in [-1, 1] (aspect kept, padded), ``label`` (padded ids), ``length``.

    In eval mode with ``tall_both_ways``, a word region turned upright also carries ``image_other_way``: the same
    crop turned 180° (90° clockwise from the region), which evaluation reads too, keeping the surer reading.
    """

    def __init__(
        self,
        root: str | Path,
        label_files: list[str],
        char_dict: CharDict,
        ratio_list: list[float] | None = None,
        mode: str = "train",
        max_text_length: int = 25,
        image_height: int = 48,
        image_width: int = 320,
        skip_bad: bool = False,
        strict: bool = False,
        concat_prob: float = 0.5,
        augment_prob: float = 0.4,
        seed: int = 0,
        multiscale_heights: list[int] | None = None,
        tall_both_ways: bool = False,
    ) -> None:
        super().__init__()
        self.root, self.char_dict, self.mode = Path(root), char_dict, mode
        self.max_text_length, self.height, self.width = max_text_length, image_height, image_width
        self.skip_bad, self.concat_prob, self.augment_prob = skip_bad, concat_prob, augment_prob
        # train mode: items keep their image unresized; the collate resizes each batch to one of these heights
        self.multiscale_heights = list(multiscale_heights or []) if mode == "train" else []
        self.tall_both_ways = tall_both_ways and mode != "train"
        self.skipped = SkipLog()
        self.seed = seed
        sources = [self._read_source(f) for f in label_files]
        kept = select_by_ratio([len(s) for s in sources], ratio_list, seed)
        samples = [sources[f][i] for f, idx in enumerate(kept) for i in idx]
        samples = usable_images(samples, _image_file, skip_bad, self.skipped)
        self.report: DictionaryReport = dictionary_report(
            [(s.text, s.source) for s in samples], char_dict, max_text_length, strict
        )
        dropped = set(self.report.dropped)
        self.samples = [s for s in samples if s.source not in dropped]
        self.skipped.log()
        if not self.samples:
            raise ValueError(
                f"no usable samples in {[str(self.root / f) for f in label_files]}\n{self.report.summary()}"
            )
        self._aug = None

    def _read_source(self, label_file: str) -> list[RecSample]:
        """The samples of a rec label file, an LMDB directory or a det label file (its boxes' word regions)."""
        samples, skipped = read_labels(label_file, self.root, self.skip_bad)
        self.skipped.problems += skipped.problems
        return [rec for sample in samples for rec in as_rec_samples(sample)]

    def __len__(self) -> int:
        return len(self.samples)

    def summary(self) -> str:
        skipped = [f"{len(self.skipped)} skipped (data.skip_bad=true)"] if len(self.skipped) else []
        return "\n".join([f"{len(self.samples)} samples", self.report.summary(), *skipped])

    def _concat(self, img: np.ndarray, text: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """RecConAug: append up to two more random samples while the line still fits width/height and length."""
        for _ in range(2):
            if rng.random() > self.concat_prob:
                break
            picked, other = load_or_next(
                self.samples, int(rng.integers(len(self.samples))), load_rec_image, self.skip_bad
            )
            other_text = picked.text
            other_width = max(1, int(other.shape[1] * img.shape[0] / other.shape[0]))  # at the line's height
            fits = (img.shape[1] + other_width) / img.shape[0] <= self.width / self.height
            if not fits or len(text) + len(other_text) > self.max_text_length:
                break
            other = cv2.resize(other, (other_width, img.shape[0]))
            img, text = np.concatenate([img, other], axis=1), text + other_text
        return img, text

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        """``dataset[(index, sample_seed)]`` (what the training sampler yields) draws every random choice of the
        augmentation from ``sample_seed``; ``dataset[index]`` uses a seed derived from (``seed``, index)."""
        index, seed = split_item(item, self.seed)
        sample, (img, turned) = load_or_next(self.samples, index, load_rec_crop, self.skip_bad)
        text = sample.text
        if self.mode == "train":
            if self._aug is None:
                self._aug = build_rec_augment(self.augment_prob)
            rng, py_random = sample_rngs(seed)
            # the warp needs a few pixels each way; with augmentation off the crop stays as evaluated
            if self.augment_prob > 0:
                img = scale_to_min_side(img)
            img, text = self._concat(img, text, rng)
            self._aug.set_random_state(rng, py_random)
            img = self._aug(image=img)["image"]
        ids = self.char_dict.encode(text)[: self.max_text_length]
        label = np.zeros(self.max_text_length, np.int32)
        label[: len(ids)] = ids
        item = {
            "image": img if self.multiscale_heights else resize_norm_rec(img, self.height, self.width),
            "index": np.int64(index),
            "label": label,
            "length": np.int64(len(ids)),
            "text": text,
            "source": sample.source,
        }
        if turned and self.tall_both_ways:
            item["image_other_way"] = resize_norm_rec(
                cv2.rotate(img, cv2.ROTATE_180), self.height, self.width
            )
        return item


def collate_rec(samples: list[dict[str, Any]], heights: list[int], width: int) -> dict[str, Any]:
    """Stack a batch; with multi-scale ``heights`` first resize every image to one height picked for the batch.

    The pick is a function of the batch's sample indices, so a resumed run sees the same heights as the original.
    """
    if heights:
        indices = np.array([s["index"] for s in samples], np.int64)
        height = heights[zlib.crc32(indices.tobytes()) % len(heights)]
        samples = [{**s, "image": resize_norm_rec(s["image"], height, width)} for s in samples]
    return {
        k: [s[k] for s in samples] if isinstance(samples[0][k], str) else np.stack([s[k] for s in samples])
        for k in samples[0]
    }
