"""``seed`` makes training repeatable: the same batches and losses in every run, with any number of workers, and a
resume continues with the run's batches (never with another batch size)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import fit_rec_demo

from ocrtrain.config import compose
from ocrtrain.engine.loader import BatchLoader
from ocrtrain.engine.sampler import ResumableBatchSampler
from ocrtrain.engine.trainer import Trainer, TrainerConfig
from ocrtrain.tasks import build_task

SMALL = ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo", "det.train_transform.crop_size=320"]


def epoch_batches(task, dataset, seed: int, workers: int, start_batch: int = 0) -> list[dict]:
    sampler = ResumableBatchSampler(len(dataset), 2, seed=seed)
    sampler.set_epoch(1, start_batch)
    with BatchLoader(dataset, task.collate, workers, seed=seed) as loader:
        return list(loader.epoch(sampler))


def same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x[k], y[k]) for x, y in zip(a, b, strict=True) for k in x)


def test_the_same_seed_gives_the_same_augmented_batches_with_any_workers_and_after_resume(in_repo):
    task = build_task(compose("train", SMALL))
    dataset = task.train_dataset()
    in_process = epoch_batches(task, dataset, seed=42, workers=0)
    assert same(in_process, epoch_batches(task, dataset, seed=42, workers=2))
    assert same(in_process[2:], epoch_batches(task, dataset, seed=42, workers=2, start_batch=2))
    assert not same(in_process, epoch_batches(task, dataset, seed=7, workers=0))


def losses(run_dir) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def test_two_runs_with_the_same_seed_have_the_same_losses(in_repo, tmp_path):
    runs = []
    for workers in (0, 2):
        cfg = compose("train", SMALL)
        trainer_cfg = TrainerConfig(
            max_steps=3, batch_size=2, num_workers=workers, log_every_steps=1, progress=False, seed=42
        )
        run_dir = tmp_path / f"workers{workers}"
        Trainer(build_task(cfg), trainer_cfg, dict(cfg.det.optimizer), run_dir).fit()
        runs.append(losses(run_dir))
    assert [s for s, _ in runs[0]] == [1, 2, 3]
    assert [v for _, v in runs[1]] == pytest.approx([v for _, v in runs[0]], abs=1e-6)


def test_a_resume_with_another_batch_size_is_refused_naming_both(in_repo, tmp_path):
    """The run's position counts batches of its size: another size would skip or repeat samples unseen."""
    with pytest.raises(SystemExit):
        fit_rec_demo(tmp_path, stop_after=1)
    with pytest.raises(
        ValueError, match=r"trained with trainer\.batch_size=4, resumed with 2: set it as the run"
    ):
        fit_rec_demo(tmp_path, resume=str(tmp_path), batch_size=2)
    fit_rec_demo(tmp_path, resume=str(tmp_path))  # the same size resumes
