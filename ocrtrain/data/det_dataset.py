"""The detection dataset: label files mixed by ratio_list, training targets or evaluation inputs per image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from paddle.io import Dataset

from ocrtrain.data.common import LabelError, select_by_ratio
from ocrtrain.data.det_labels import DetSample, read_det_labels
from ocrtrain.data.det_transforms import build_augment, eval_transform, train_transform
from ocrtrain.imageio import ImageError, read_image


class DetDataset(Dataset):
    """``mode="train"``: augmented 640 crops with DB targets; ``mode="eval"``: resized image + ground truth."""

    def __init__(
        self,
        root: str | Path,
        label_files: list[str],
        ratio_list: list[float] | None = None,
        mode: str = "train",
        skip_bad: bool = False,
        seed: int = 0,
        crop_size: int = 640,
        limit_side_len: int = 736,
        limit_type: str = "min",
    ):
        super().__init__()
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        self.mode, self.skip_bad, self.seed, self.crop_size = mode, skip_bad, seed, crop_size
        self.limit_side_len, self.limit_type = limit_side_len, limit_type
        per_file, self.skipped = read_det_labels(label_files, root, skip_bad)
        kept = select_by_ratio([len(s) for s in per_file], ratio_list, seed)
        self.samples: list[DetSample] = [per_file[f][i] for f, idx in enumerate(kept) for i in idx]
        if not self.samples:
            raise ValueError(f"no usable samples in {[str(Path(root) / f) for f in label_files]}")
        self.empty_images = sum(1 for s in self.samples if not s.polys)
        self._aug = None  # built lazily, per worker process

    def __len__(self) -> int:
        return len(self.samples)

    def report(self) -> str:
        lines = [
            f"{len(self.samples)} images, {self.empty_images} with no boxes (trained on as all background)"
        ]
        if len(self.skipped):
            lines.append(self.skipped.summary())
        return "\n".join(lines)

    def _load(self, index: int) -> tuple[DetSample, np.ndarray]:
        """The sample and its image; with skip_bad an unreadable image is logged and the next one used."""
        for attempt in range(len(self.samples)):
            sample = self.samples[(index + attempt) % len(self.samples)]
            try:
                return sample, read_image(sample.image_path)
            except ImageError as e:
                error = LabelError(*sample.source.rsplit(":", 1), f"unreadable image: {e}")
                if not self.skip_bad:
                    raise error from None
                self.skipped.add(error)
        raise ValueError("no readable image in the dataset")

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample, img = self._load(index)
        if self.mode == "eval":
            image, (h, w) = eval_transform(img, self.limit_side_len, self.limit_type)
            return {
                "image": image,
                "shape": np.array([h, w], np.int32),
                "polys": sample.polys,
                "ignore": sample.ignore,
                "image_path": str(sample.image_path),
            }
        if self._aug is None:
            self._aug = build_augment()
        self._aug.set_random_seed(np.random.randint(0, 2**31))  # albumentations keeps its own generator
        # drawn from numpy's global generator, which checkpoints save and restore with the run
        rng = np.random.default_rng(np.random.randint(0, 2**31))
        return train_transform(
            img, [p.copy() for p in sample.polys], list(sample.ignore), self._aug, rng, self.crop_size
        )
