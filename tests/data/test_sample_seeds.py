"""Issue 10 item 6, data side: every random choice of the training augmentation comes from the sample seed, so
a batch is the same in any process, with any global RNG state, after a resume."""

from __future__ import annotations

import random

import numpy as np

from ocrtrain.data.det_dataset import DetDataset
from ocrtrain.data.dictionary import CharDict
from ocrtrain.data.rec_dataset import RecDataset, collate_rec


def _equal(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in a)


def _scramble_global_rngs(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)


def test_det_sample_depends_on_its_seed_only(demo_dir):
    dataset = DetDataset(demo_dir, ["train.txt"], mode="train", crop_size=320)
    _scramble_global_rngs(1)
    first = dataset[(3, 1234)]
    _scramble_global_rngs(2)
    assert _equal(first, dataset[(3, 1234)])
    assert not np.array_equal(first["image"], dataset[(3, 1235)]["image"])
    # a bare index draws from (dataset seed, index): the same in every process
    assert _equal(dataset[3], DetDataset(demo_dir, ["train.txt"], mode="train", crop_size=320)[3])
    assert not np.array_equal(
        dataset[3]["image"], DetDataset(demo_dir, ["train.txt"], crop_size=320, seed=1)[3]["image"]
    )


def test_rec_sample_and_multiscale_batch_depend_on_the_seeds_only(demo_dir):
    rec_demo = demo_dir.parent / "icdar2015_rec_demo"
    dataset = RecDataset(
        rec_demo, ["train.txt"], CharDict.pretrained(), mode="train", multiscale_heights=[32, 48, 64]
    )
    items = [(i, 1000 + i) for i in (5, 17, 40, 99)]
    _scramble_global_rngs(1)
    batch = collate_rec([dataset[item] for item in items], [32, 48, 64], 320)
    _scramble_global_rngs(2)
    again = collate_rec([dataset[item] for item in items], [32, 48, 64], 320)
    assert _equal(batch, again)
    differ = [not np.array_equal(dataset[(i, s)]["image"], dataset[(i, s + 7)]["image"]) for i, s in items]
    assert sum(differ) >= 3  # an augmentation may leave an image as it was; most must differ


def test_copy_paste_draws_its_donor_and_placements_from_the_sample_seed(demo_dir):
    dataset = DetDataset(demo_dir, ["train.txt"], mode="train", crop_size=320, copy_paste=0.5)
    _scramble_global_rngs(1)
    first = dataset[(3, 1234)]
    _scramble_global_rngs(2)
    assert _equal(first, dataset[(3, 1234)])
    plain = DetDataset(demo_dir, ["train.txt"], mode="train", crop_size=320)
    assert not np.array_equal(
        first["image"], plain[(3, 1234)]["image"]
    )  # it pasted (what: test_det_transforms)
