"""The recognition dataset: label files, LMDB databases and detection labels (their word crops), mixed by
ratio_list and encoded with a dictionary."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
from paddle.io import Dataset

from ocrtrain.crop import crop_text_region
from ocrtrain.data.common import LabelError, SkipLog, label_kind, select_by_ratio
from ocrtrain.data.det_labels import read_det_labels
from ocrtrain.data.dictionary import CharDict, DictionaryReport, dictionary_report
from ocrtrain.data.rec_labels import read_lmdb, read_rec_labels
from ocrtrain.imageio import ImageError, decode_image, read_image
from ocrtrain.preprocess import resize_norm_rec


def build_rec_augment() -> A.Compose:
    """Blur, noise, colour jitter, small perspective/affine and a random crop, each with probability 0.4."""
    return A.Compose(
        [
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=5)], p=0.4),
            A.GaussNoise(std_range=(0.02, 0.08), p=0.4),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1, p=0.4),
            A.Perspective(scale=(0.02, 0.05), fit_output=True, p=0.4),
            A.Affine(rotate=(-5, 5), shear=(-8, 8), fit_output=True, border_mode=cv2.BORDER_REPLICATE, p=0.4),
            A.CropAndPad(percent=(-0.06, 0.0), keep_size=False, p=0.4),
        ]
    )


@dataclass(frozen=True)
class TextRegion:
    """A labelled box of a detection label file: cut out of its image (the pipeline's crop) when loaded."""

    image_path: Path
    poly: np.ndarray


class RecDataset(Dataset):
    """Items: ``image`` 3 x height x width in [-1, 1] (aspect kept, padded), ``label`` (padded ids), ``length``."""

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
        seed: int = 0,
        multiscale_heights: list[int] | None = None,
    ):
        super().__init__()
        self.root, self.char_dict, self.mode = Path(root), char_dict, mode
        self.max_text_length, self.height, self.width = max_text_length, image_height, image_width
        self.skip_bad, self.concat_prob = skip_bad, concat_prob
        # train mode: items keep their image unresized; the collate resizes each batch to one of these heights
        self.multiscale_heights = list(multiscale_heights or []) if mode == "train" else []
        self.skipped = SkipLog()
        sources = [self._read_source(f) for f in label_files]
        kept = select_by_ratio([len(s) for s in sources], ratio_list, seed)
        samples = [sources[f][i] for f, idx in enumerate(kept) for i in idx]
        self.report: DictionaryReport = dictionary_report(
            [(text, source) for _, text, source in samples], char_dict, max_text_length, strict
        )
        dropped = set(self.report.dropped)
        self.samples = [s for s in samples if s[2] not in dropped]
        if not self.samples:
            raise ValueError(
                f"no usable samples in {[str(self.root / f) for f in label_files]}\n{self.report.summary()}"
            )
        self._aug = None

    def _read_source(self, label_file: str) -> list[tuple[Any, str, str]]:
        """(image path, encoded bytes or text region, text, "file:line") of a label file, an LMDB directory or
        a detection label file (every box but the don't-care ones becomes a sample)."""
        path = self.root / label_file
        if path.is_dir():
            return [(image, text, source) for image, text, source in read_lmdb(path)]
        if label_kind(path) == "det":
            (det_samples,), skipped = read_det_labels([label_file], self.root, self.skip_bad)
            self.skipped.problems.extend(skipped.problems)
            return [
                (TextRegion(s.image_path, poly), text, f"{s.source} box {k}")
                for s in det_samples
                for k, poly, text in s.text_boxes()
            ]
        samples, skipped = read_rec_labels(label_file, self.root, self.skip_bad)
        self.skipped.problems.extend(skipped.problems)
        return [(s.image_path, s.text, s.source) for s in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def summary(self) -> str:
        parts = [f"{len(self.samples)} samples", self.report.summary()]
        if len(self.skipped):
            parts.append(self.skipped.summary())
        return "\n".join(parts)

    def _load(self, index: int) -> tuple[np.ndarray, str, str]:
        for attempt in range(len(self.samples)):
            image, text, source = self.samples[(index + attempt) % len(self.samples)]
            try:
                if isinstance(image, TextRegion):
                    img = crop_text_region(read_image(image.image_path), image.poly)
                else:
                    img = decode_image(image, source) if isinstance(image, bytes) else read_image(image)
                return img, text, source
            except ImageError as e:
                error = LabelError(*source.rsplit(":", 1), f"unreadable image: {e}")
                if not self.skip_bad:
                    raise error from None
                self.skipped.add(error)
        raise ValueError("no readable image in the dataset")

    def _concat(self, img: np.ndarray, text: str) -> tuple[np.ndarray, str]:
        """RecConAug: append up to two more random samples while the line still fits width/height and length."""
        for _ in range(2):
            if np.random.rand() > self.concat_prob:
                break
            other, other_text, _ = self._load(np.random.randint(len(self.samples)))
            other = cv2.resize(
                other, (max(1, int(other.shape[1] * img.shape[0] / other.shape[0])), img.shape[0])
            )
            fits = (img.shape[1] + other.shape[1]) / img.shape[0] <= self.width / self.height
            if not fits or len(text) + len(other_text) > self.max_text_length:
                break
            img, text = np.concatenate([img, other], axis=1), text + other_text
        return img, text

    def __getitem__(self, index: int) -> dict[str, Any]:
        img, text, source = self._load(index)
        if self.mode == "train":
            if self._aug is None:
                self._aug = build_rec_augment()
            self._aug.set_random_seed(np.random.randint(0, 2**31))  # albumentations keeps its own generator
            img, text = self._concat(img, text)
            img = self._aug(image=img)["image"]
        ids = self.char_dict.encode(text)[: self.max_text_length]
        label = np.zeros(self.max_text_length, np.int32)
        label[: len(ids)] = ids
        return {
            "image": img if self.multiscale_heights else resize_norm_rec(img, self.height, self.width),
            "index": np.int64(index),
            "label": label,
            "length": np.int64(len(ids)),
            "text": text,
            "source": source,
        }


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
