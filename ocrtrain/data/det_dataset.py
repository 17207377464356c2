"""The detection dataset: label files mixed by ratio_list, training targets or evaluation inputs per image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from paddle.io import Dataset

from ocrtrain.data.common import (
    SkipLog,
    load_image,
    load_or_next,
    sample_rngs,
    select_by_ratio,
    split_item,
    usable_images,
)
from ocrtrain.data.det_transforms import (
    build_augment,
    copy_paste,
    eval_transform,
    train_geometry,
    train_targets,
)
from ocrtrain.data.readers import read_labels
from ocrtrain.data.readers.base import DetSample


class DetDataset(Dataset):
    """``mode="train"``: augmented crops with DB targets; ``mode="eval"``: resized image + ground truth.

    ``dataset[(index, sample_seed)]`` (what the training sampler yields) draws every random choice of the
    augmentation from ``sample_seed``; ``dataset[index]`` uses a seed derived from (``seed``, index).
    """

    def __init__(
        self,
        root: str | Path,
        label_files: list[str],
        ratio_list: list[float] | None = None,
        mode: str = "train",
        skip_bad: bool = False,
        seed: int = 0,
        crop_size: int = 640,
        copy_paste: float = 0.0,
        limit_side_len: int = 736,
        limit_type: str = "min",
    ) -> None:
        super().__init__()
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        self.mode, self.skip_bad, self.seed, self.crop_size = mode, skip_bad, seed, crop_size
        self.copy_paste = copy_paste  # the share of another image's boxes pasted in (0: off)
        self.limit_side_len, self.limit_type = limit_side_len, limit_type
        self.skipped = SkipLog()
        per_file = []
        for label_file in label_files:
            samples, skipped = read_labels(label_file, root, skip_bad, kind="det")
            per_file.append(samples)
            self.skipped.problems += skipped.problems
        kept = select_by_ratio([len(s) for s in per_file], ratio_list, seed)
        samples = [per_file[f][i] for f, idx in enumerate(kept) for i in idx]
        self.samples: list[DetSample] = usable_images(samples, lambda s: s.image_path, skip_bad, self.skipped)
        self.skipped.log()
        if not self.samples:
            raise ValueError(f"no usable samples in {[str(Path(root) / f) for f in label_files]}")
        self.empty_images = sum(1 for s in self.samples if not s.polys)
        self._aug = None  # built lazily, per worker process

    def __len__(self) -> int:
        return len(self.samples)

    def report(self) -> str:
        skipped = f", {len(self.skipped)} skipped (data.skip_bad=true)" if len(self.skipped) else ""
        empty = " (trained on as all background)" if self.mode == "train" else ""
        return f"{len(self.samples)} images, {self.empty_images} with no boxes{empty}{skipped}"

    @staticmethod
    def _load(sample: DetSample) -> np.ndarray:
        return load_image(sample.image_path, sample.file, sample.line_no)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = split_item(item, self.seed)
        sample, img = load_or_next(self.samples, index, self._load, self.skip_bad)
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
        rngs = sample_rngs(seed)
        polys, ignore = [p.copy() for p in sample.polys], list(sample.ignore)
        if self.copy_paste > 0:
            donor, donor_img = load_or_next(
                self.samples, int(rngs[0].integers(len(self.samples))), self._load, self.skip_bad
            )
            img, polys, ignore = copy_paste(
                img, polys, ignore, (donor_img, donor.polys, donor.ignore), rngs[0], self.copy_paste
            )
        return train_targets(*train_geometry(img, polys, ignore, self._aug, rngs, self.crop_size))
