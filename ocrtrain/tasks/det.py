"""Text detection (DB) as a training task: model, data, loss, evaluation by Hmean, export metadata."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paddle
from omegaconf import DictConfig
from paddle.io import Dataset
from tqdm import tqdm

from ocrtrain.compare import paired_details
from ocrtrain.components import build
from ocrtrain.config import to_plain
from ocrtrain.data.common import split_sources
from ocrtrain.data.readers import fingerprint_label_files
from ocrtrain.imageio import read_image
from ocrtrain.pipeline.inference_settings import det_inference_yml, det_settings
from ocrtrain.sheets import GREEN, GREY, RED, draw_polygons, image_sheet
from ocrtrain.tasks.traced_eval import TaskPredictors

log = logging.getLogger("ocrtrain")
Predictor = Callable[[np.ndarray], np.ndarray]  # N x 3 x H x W float32 -> N x 1 x H x W probabilities


class DetTask(TaskPredictors):
    kind = "det"
    metric_name = "hmean"
    traced_eval_min_samples = 8  # tracing costs ~6 s; at 736/min it saves ~1.5 s per image on 2 CPU cores

    def __init__(
        self, model_cfg: DictConfig, data_cfg: DictConfig, pretrained: str | None = None, seed: int = 42
    ) -> None:
        self.model_cfg, self.data_cfg = model_cfg, data_cfg
        self.pretrained = pretrained or model_cfg.pretrained
        self.seed = seed
        self.eval_resize = dict(to_plain(model_cfg.eval_resize))
        self.db_config = build("postprocess", to_plain(model_cfg.postprocess))
        self._loss = None
        self._eval_dataset = None

    # ---- model ---------------------------------------------------------------------------------------------------
    def build_model(self) -> paddle.nn.Layer:
        from ocrtrain.models.builder import build_model

        return build_model(to_plain(self.model_cfg.arch))

    def load_pretrained(self, model: paddle.nn.Layer) -> None:
        from ocrtrain.models.loading import load_pretrained_for_run

        load_pretrained_for_run(model, str(self.pretrained))

    def use_inference_settings(self, meta: dict[str, Any], origin: str, resize: str) -> None:
        """Evaluate with a model's own inference settings: its DB values, and with ``resize="pipeline"`` its
        inference resize rule (``"train"`` keeps the model config's ``eval_resize``)."""
        settings = det_settings(meta, origin)
        self.db_config = build("postprocess", settings.postprocess)
        if resize == "pipeline":
            self.set_eval_resize(
                {"limit_side_len": settings.limit_side_len, "limit_type": settings.limit_type}
            )

    def set_eval_resize(self, resize: dict[str, Any]) -> None:
        resize = {"limit_side_len": int(resize["limit_side_len"]), "limit_type": str(resize["limit_type"])}
        if resize != self.eval_resize:
            self.eval_resize = resize
            self._eval_dataset = None  # built at the previous resize: build it again at this one

    # ---- data ----------------------------------------------------------------------------------------------------
    def dataset(self, split: str, mode: str) -> Dataset:
        """The data config's ``split`` (``train`` / ``val``) loaded for ``mode``: ``train`` augments, ``eval`` loads
        the samples as evaluations see them."""
        from ocrtrain.data.det_dataset import DetDataset

        label_files, ratio_list = split_sources(self.data_cfg, split)
        dataset = DetDataset(
            root=self.data_cfg.root,
            label_files=label_files,
            ratio_list=ratio_list,
            mode=mode,
            skip_bad=bool(self.data_cfg.get("skip_bad", False)),
            seed=self.seed,
            crop_size=int(self.model_cfg.train_transform.crop_size),
            copy_paste=float(self.model_cfg.train_transform.copy_paste),
            **self.eval_resize,
        )
        log.info(f"{split} data: {dataset.report()}")
        return dataset

    def train_dataset(self) -> Dataset:
        return self.dataset("train", "train")

    def eval_dataset(self) -> Dataset:
        # built once: every evaluation, the parity batch and the worst-case sheet share it
        if self._eval_dataset is None:
            self._eval_dataset = self.dataset("val", "eval")
        return self._eval_dataset

    @staticmethod
    def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
        return {k: np.stack([s[k] for s in samples]) for k in samples[0]}

    # ---- loss ----------------------------------------------------------------------------------------------------
    def loss(self, model: paddle.nn.Layer, batch: dict[str, Any]) -> dict[str, paddle.Tensor]:
        if self._loss is None:
            from ocrtrain import components

            self._loss = components.build("loss", to_plain(self.model_cfg.loss))
        tensors = {k: v if isinstance(v, paddle.Tensor) else paddle.to_tensor(v) for k, v in batch.items()}
        return self._loss(model(tensors["image"]), tensors)

    # ---- evaluation ----------------------------------------------------------------------------------------------
    def probability_maps(
        self,
        predict: Predictor,
        progress: bool = True,
        desc: str = "eval det",
        dataset: Dataset | None = None,
    ) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
        """Each image's dataset item (ground truth, original size) and the model's H x W probability map, over
        ``dataset`` (default: the val split)."""
        dataset = self.eval_dataset() if dataset is None else dataset
        for i in tqdm(range(len(dataset)), desc=desc, disable=not progress, leave=False):
            item = dataset[i]
            yield item, predict(item["image"][None])[0, 0]

    def evaluate(
        self, predict: Predictor, progress: bool = True, dataset: Dataset | None = None
    ) -> dict[str, Any]:
        """precision/recall/hmean over ``dataset`` (default: the val split; ICDAR 2015 protocol), recall by word
        height, with per-image details."""
        from ocrtrain.metrics.det_metric import combine, evaluate_image, hmean, recall_by_height

        details = []
        for item, prob in self.probability_maps(predict, progress, dataset=dataset):
            quads, scores = self.db_config(prob, (int(item["shape"][0]), int(item["shape"][1])))
            result = evaluate_image(item["polys"], item["ignore"], list(quads))
            details.append(
                {
                    "image": item["image_path"],
                    **result,
                    "hmean": hmean(result["precision"], result["recall"]),
                    "gt_polys": [p.tolist() for p in item["polys"]],
                    "gt_ignore": list(item["ignore"]),
                    "det_polys": quads.round(1).tolist(),
                    "det_scores": scores.round(4).tolist(),
                }
            )
        return {
            **combine(details),
            **recall_by_height(details),
            "eval_resize": dict(self.eval_resize),
            "images": len(details),
            "details": details,
        }

    def render_worst(self, details: list[dict[str, Any]], path: Path, k: int = 8) -> Path:
        """A sheet of the ``k`` images with the lowest Hmean: ground truth green (don't-care grey), detections red."""
        worst = sorted(details, key=lambda d: (d["hmean"], d["image"]))[:k]
        return image_sheet([_overlay(d, Path(d["image"]).name) for d in worst], path)

    def render_changes(
        self, before: list[dict[str, Any]], after: list[dict[str, Any]], path: Path, k: int = 8
    ) -> Path:
        """The ``k`` images where the two models' errors (missed words + false detections) differ most, before on
        the left, after on the right: where a fine-tune gained or lost the most words, not where one word flipped."""

        def errors(d: dict[str, Any]) -> int:
            return d["gt_care"] + d["det_care"] - 2 * d["matched"]

        pairs = sorted(
            paired_details(before, after, "image"),
            key=lambda p: (
                -abs(errors(p[1]) - errors(p[0])),
                -abs(p[1]["hmean"] - p[0]["hmean"]),
                p[0]["image"],
            ),
        )[:k]
        images = []
        for b, a in pairs:
            images += [_overlay(b, f"before {Path(b['image']).name}"), _overlay(a, "after")]
        return image_sheet(images, path)

    # ---- checkpoints and export ----------------------------------------------------------------------------------
    def checkpoint_meta(self) -> tuple[dict[str, Any], dict[str, str]]:
        return {"task": "det", "model_name": self.model_cfg.name}, {}

    def check_resume(self, state: dict[str, Any]) -> None:
        if state.get("task") != "det":
            raise ValueError(f"cannot resume a det run from a {state.get('task')} checkpoint")

    def parity_batch(self) -> np.ndarray:
        """A real validation image, as the network sees it, to compare checkpoint and export on."""
        return self.eval_dataset()[0]["image"][None]

    @staticmethod
    def export_input_shape() -> list[int | None]:
        return [None, 3, None, None]

    def provenance(self) -> dict[str, Any]:
        """Which model and data: each label file's path, line count and sha256."""
        return {
            "model_name": self.model_cfg.name,
            "dataset": self.data_cfg.get("name"),
            "label_files": fingerprint_label_files(self.data_cfg),
        }

    def inference_yml(self) -> dict[str, Any]:
        """The exported detector's inference.yml: the model config's inference resize and DB values."""
        return det_inference_yml(
            self.model_cfg.name, to_plain(self.model_cfg.infer_resize), to_plain(self.model_cfg.postprocess)
        )


def _overlay(d: dict[str, Any], title: str) -> np.ndarray:
    """One evaluated image: ground truth green (don't-care grey), detections red, the title and its P / R / Hmean."""
    img = read_image(d["image"])
    care = [p for p, ignore in zip(d["gt_polys"], d["gt_ignore"], strict=True) if not ignore]
    dont_care = [p for p, ignore in zip(d["gt_polys"], d["gt_ignore"], strict=True) if ignore]
    draw_polygons(draw_polygons(img, care, GREEN), dont_care, GREY)
    draw_polygons(img, d["det_polys"], RED)
    label = f"{title}  P {d['precision']:.2f} R {d['recall']:.2f} H {d['hmean']:.2f}"
    cv2.putText(img, label, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, RED, 2)
    return img
