"""Text recognition (SVTR + CTC) as a training task: dictionary, model, data, CTC loss, accuracy, export metadata."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from ocrtrain.data.dictionary import CharDict
from ocrtrain.data.readers import fingerprint_label_files
from ocrtrain.devices import cpu_threads
from ocrtrain.pipeline.inference_settings import rec_inference_yml, rec_settings
from ocrtrain.postprocess.ctc import ctc_greedy_decode, keep_surer
from ocrtrain.sheets import caption_sheet
from ocrtrain.tasks.traced_eval import TaskPredictors

log = logging.getLogger("ocrtrain")
GREEN, RED, BLACK = (0, 150, 0), (200, 0, 0), (0, 0, 0)  # RGB, as caption_sheet takes them
# val items kept in memory across the evaluations of one run: a crop cut from a det-label image costs a whole-image
# decode (~40 ms, a sixth of a traced evaluation); 256 MiB holds ~1,400 crops at 48 x 320
EVAL_CACHE_BYTES = 256 * 2**20
Predictor = Callable[[np.ndarray], np.ndarray]  # N x 3 x 48 x W float32 -> N x T x C probabilities


def dictionary_of(meta: dict[str, Any], origin: str) -> list[str]:
    """The characters a recogniser's inference settings (``inference.yml``) decode to, blank excluded."""
    return list(build("postprocess", rec_settings(meta, origin).postprocess).characters)


def class_columns(theirs: list[str], ours: list[str]) -> np.ndarray | None:
    """For each of our CTC classes (0 = blank, then ``ours``) the class of ``theirs`` with the same character, or -1;
    None when the dictionaries are the same."""
    if theirs == ours:
        return None
    index = {c: k + 1 for k, c in enumerate(theirs)}
    return np.array([0] + [index.get(c, -1) for c in ours], np.int64)


class RecTask(TaskPredictors):
    kind = "rec"
    metric_name = "acc"
    traced_eval_min_samples = 64  # tracing costs ~6 s; see tasks.traced_eval

    def __init__(
        self, model_cfg: DictConfig, data_cfg: DictConfig, pretrained: str | None = None, seed: int = 42
    ) -> None:
        self.model_cfg, self.data_cfg = model_cfg, data_cfg
        self.pretrained = pretrained or model_cfg.pretrained
        self.seed = seed
        dict_file = data_cfg.get("dict")
        self.char_dict = (
            CharDict.from_file(Path(data_cfg.root) / dict_file)
            if dict_file
            else CharDict.pretrained(model_cfg.get("dictionary", "PP-OCRv4_mobile_rec"))
        )
        # a run saved before distillation existed has no `distill` node
        self.distill = model_cfg.get("distill") or DictConfig(
            {"weight": 0.0, "teacher": None, "temperature": 1.0}
        )
        if float(self.distill.weight) > 0 and not self.distill.get("teacher"):
            raise ValueError(
                "rec.distill.weight > 0 needs rec.distill.teacher: a recogniser's zoo name, exported dir or "
                "registry URI (e.g. PP-OCRv6_small_rec; the model's own pretrained name keeps what it reads)"
            )
        self._loss = None
        self._teacher_model: tuple[Predictor, np.ndarray | None] | None = None
        self._eval_dataset = None
        self._eval_items: dict[int, dict[str, Any]] | None = None

    # ---- model ---------------------------------------------------------------------------------------------------
    def build_model(self) -> paddle.nn.Layer:
        from ocrtrain.models.builder import build_model

        return build_model(to_plain(self.model_cfg.arch), num_classes=self.char_dict.num_classes)

    @property
    def _gtc_max_len(self) -> int:
        return int(self.model_cfg.max_text_length) + 2  # NRTR tokens: start + text + end

    def load_pretrained(self, model: paddle.nn.Layer) -> None:
        from ocrtrain.models.loading import load_pretrained_for_run

        load_pretrained_for_run(model, str(self.pretrained), characters=list(self.char_dict.characters))

    def use_inference_settings(self, meta: dict[str, Any], origin: str, resize: str) -> None:
        """Evaluate a loaded model with its own dictionary: adopted when no ``data.dict`` was given, refused when the
        one given differs (``resize`` applies to detectors only)."""
        characters = dictionary_of(meta, origin)
        if characters == list(self.char_dict.characters):
            return
        if self.data_cfg.get("dict"):
            raise ValueError(
                f"{origin}: its dictionary ({len(characters)} characters) differs from data.dict "
                f"({len(self.char_dict.characters)}): evaluating would decode the wrong characters; leave data.dict "
                "out to evaluate with the model's own"
            )
        self.char_dict = CharDict(tuple(characters))
        self._eval_dataset, self._eval_items = None, None  # built for the other dictionary

    # ---- data ----------------------------------------------------------------------------------------------------
    def dataset(self, split: str, mode: str) -> Dataset:
        """The data config's ``split`` (``train`` / ``val``) loaded for ``mode``: ``train`` augments, ``eval`` loads
        the samples as evaluations see them."""
        from ocrtrain.data.rec_dataset import RecDataset

        label_files, ratio_list = split_sources(self.data_cfg, split)
        shape = self.model_cfg.image_shape
        # only training reads the augmentation settings (a run saved before they existed still evaluates)
        augmentation = {}
        if mode == "train":
            transform = self.model_cfg.train_transform
            augmentation = {
                "concat_prob": float(transform.concat_prob),
                "augment_prob": float(transform.augment_prob),
            }
        dataset = RecDataset(
            root=self.data_cfg.root,
            label_files=label_files,
            char_dict=self.char_dict,
            ratio_list=ratio_list,
            mode=mode,
            max_text_length=int(self.model_cfg.max_text_length),
            image_height=int(shape[0]),
            image_width=int(shape[1]),
            skip_bad=bool(self.data_cfg.get("skip_bad", False)),
            strict=bool(self.data_cfg.get("strict", False)),
            **augmentation,
            seed=self.seed,
            multiscale_heights=list(self.model_cfg.get("multiscale_heights") or []),
            tall_both_ways=bool(self.model_cfg.get("tall_crops_both_ways", False)),
        )
        log.info(f"{split} data: {dataset.summary()}")
        return dataset

    def train_dataset(self) -> Dataset:
        return self.dataset("train", "train")

    def eval_dataset(self) -> Dataset:
        if self._eval_dataset is None:  # built once: every evaluation and the worst-case sheet share it
            self._eval_dataset = self.dataset("val", "eval")
            shape = self.model_cfg.image_shape
            item_bytes = 3 * int(shape[0]) * int(shape[1]) * 4
            self._eval_items = {} if len(self._eval_dataset) * item_bytes <= EVAL_CACHE_BYTES else None
        return self._eval_dataset

    def _eval_item(self, index: int) -> dict[str, Any]:
        """A val item, kept for the next evaluation when the split fits ``EVAL_CACHE_BYTES``."""
        dataset = self.eval_dataset()
        if self._eval_items is None:
            return dataset[index]
        if index not in self._eval_items:
            self._eval_items[index] = dataset[index]
        return self._eval_items[index]

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        from ocrtrain.data.rec_dataset import collate_rec

        heights = list(self.model_cfg.get("multiscale_heights") or [])
        return collate_rec(samples, heights, int(self.model_cfg.image_shape[1]))

    # ---- loss ----------------------------------------------------------------------------------------------------
    def loss(self, model: paddle.nn.Layer, batch: dict[str, Any]) -> dict[str, paddle.Tensor]:
        """CTC loss; with the GTC branch enabled also its NRTR loss, added with weight ``gtc.weight``; with
        ``distill.weight`` > 0 also the KL from the teacher's per-frame readings of the same batch."""
        if self._loss is None:
            from ocrtrain import components
            from ocrtrain.losses.gtc_loss import nrtr_tokens

            self._loss = (
                components.build("loss", to_plain(self.model_cfg.loss)),
                components.build("loss", to_plain(self.model_cfg.gtc.loss)),
                nrtr_tokens,
                components.build(
                    "loss", {"name": "FrameKLLoss", "temperature": float(self.distill.temperature)}
                ),
            )
        ctc_loss, gtc_loss, nrtr_tokens, distill_loss = self._loss
        as_tensor = lambda v: v if isinstance(v, paddle.Tensor) else paddle.to_tensor(v)  # noqa: E731
        image, label, length = (
            as_tensor(batch["image"]),
            as_tensor(batch["label"]),
            as_tensor(batch["length"]),
        )
        gtc = self.model_cfg.get("gtc")
        use_gtc = bool(gtc and gtc.enabled)
        if use_gtc:
            tokens = nrtr_tokens(label.numpy(), length.numpy(), self._gtc_max_len)
            out = model(image, {"gtc_tokens": paddle.to_tensor(tokens[:, :-1])})
        else:
            out = model(image)
        losses = {"loss_ctc": ctc_loss(out["ctc"], label, length)["loss"]}
        if use_gtc:
            losses["loss_gtc"] = float(gtc.weight) * gtc_loss(out["gtc"], paddle.to_tensor(tokens[:, 1:]))
        if float(self.distill.weight) > 0:
            teacher_probs = paddle.to_tensor(self._teacher_probs(image.numpy(), out["ctc"].shape))
            losses["loss_distill"] = float(self.distill.weight) * distill_loss(out["ctc"], teacher_probs)
        if len(losses) == 1:
            return {"loss": losses["loss_ctc"]}
        return {"loss": paddle.add_n(list(losses.values())), **losses}

    def _teacher_probs(self, images: np.ndarray, student_shape: list[int]) -> np.ndarray:
        """The teacher's per-frame probabilities over this run's classes (N x T x C, as the student's outputs)."""
        predict, columns = self._teacher()
        probs = predict(images)
        if columns is not None:  # another dictionary: our classes' columns; characters it lacks get nothing
            probs = np.where(columns >= 0, probs[:, :, np.maximum(columns, 0)], 0.0)
            probs = (probs / np.maximum(probs.sum(-1, keepdims=True), 1e-8)).astype(np.float32)
        if list(probs.shape) != list(student_shape):
            raise ValueError(
                f"distill.teacher={self.distill.teacher}: {probs.shape[1]} frames per crop against this model's "
                f"{student_shape[1]}: a frame-by-frame teacher must cut the crop into as many frames"
            )
        return probs

    def _teacher(self) -> tuple[Predictor, np.ndarray | None]:
        """The frozen teacher (``distill.teacher``) as a predictor on this run's device with the threads this process
        trains with, and the column of its output holding each of this run's classes (None: the same dictionary)."""
        if self._teacher_model is None:
            from ocrtrain.pipeline.model_source import resolve_model_source
            from ocrtrain.pipeline.predictor import load_predictor

            spec = self.distill.teacher
            source = resolve_model_source(str(spec), "rec")
            columns = class_columns(
                dictionary_of(source.meta, source.origin), list(self.char_dict.characters)
            )
            if columns is not None:
                log.info(
                    f"distill teacher {spec}: {int((columns < 0).sum())} of this run's {len(columns) - 1} "
                    "characters are not in its dictionary (they get no teacher probability)"
                )
            self._teacher_model = (
                load_predictor(source, paddle.get_device(), cpu_threads=cpu_threads()),
                columns,
            )
        return self._teacher_model

    # ---- evaluation ----------------------------------------------------------------------------------------------
    def evaluate(
        self, predict: Predictor, progress: bool = True, batch_size: int = 32, dataset: Dataset | None = None
    ) -> dict[str, Any]:
        """acc / norm_edit_dis over ``dataset`` (default: the val split) as ``rec.metric`` says (default: spaces
        ignored, case and symbols count), case-insensitive acc too, with per-sample details."""
        from ocrtrain.metrics import rec_metric

        if dataset is None:
            dataset, load = self.eval_dataset(), self._eval_item
        else:
            load = dataset.__getitem__
        characters = list(self.char_dict.characters)
        details = []
        for start in tqdm(
            range(0, len(dataset), batch_size), desc="eval rec", disable=not progress, leave=False
        ):
            items = [load(i) for i in range(start, min(start + batch_size, len(dataset)))]
            decoded = ctc_greedy_decode(predict(np.stack([it["image"] for it in items])), characters)
            # a tall region is read the other way up too: the surer reading is kept
            turned = [k for k, it in enumerate(items) if "image_other_way" in it]
            others = []
            if turned:
                others = ctc_greedy_decode(
                    predict(np.stack([items[k]["image_other_way"] for k in turned])), characters
                )
            decoded, other_way = keep_surer(decoded, others, turned)
            for item, (text, score), flipped in zip(items, decoded, other_way, strict=True):
                details.append(
                    {
                        "source": item["source"],
                        "truth": item["text"],
                        "prediction": text,
                        "score": score,
                        "other_way": flipped,
                    }
                )
        options = rec_metric.RecMetricOptions(**(to_plain(self.model_cfg.get("metric")) or {}))
        caseless = rec_metric.RecMetricOptions(
            options.ignore_space, case_sensitive=False, symbol_insensitive=options.symbol_insensitive
        )
        scores = [rec_metric.score(d["prediction"], d["truth"], options) for d in details]
        for d, s in zip(details, scores, strict=True):
            d["edit_distance"], d["correct"] = s.edit_distance, s.correct
        metrics = rec_metric.summarize(scores)
        metrics["acc_case_insensitive"] = sum(
            caseless.normalise(d["prediction"]) == caseless.normalise(d["truth"]) for d in details
        ) / max(len(details), 1)
        return {**metrics, "samples": len(details), "details": details}

    def render_worst(self, details: list[dict[str, Any]], path: Path, k: int = 8) -> Path:
        """A sheet of the ``k`` worst samples: the crop, then truth (green) and prediction (red)."""
        worst = sorted(details, key=lambda d: (-d["edit_distance"], d["source"]))[:k]
        rows = [
            (crop, [(f"truth: {d['truth']}", GREEN), (f"pred:  {d['prediction']}", RED)])
            for d, crop in zip(worst, self._crops(worst), strict=True)
        ]
        return caption_sheet(rows, path)

    def render_changes(
        self, before: list[dict[str, Any]], after: list[dict[str, Any]], path: Path, k: int = 8
    ) -> Path:
        """The ``k`` samples that changed most between two models (read right by one only first, then by edit
        distance): the crop, the truth, and each model's reading (green when right, red when wrong)."""
        pairs = sorted(
            paired_details(before, after, "source"),
            key=lambda p: (
                p[0]["correct"] == p[1]["correct"],
                -abs(p[1]["edit_distance"] - p[0]["edit_distance"]),
                p[0]["source"],
            ),
        )[:k]
        crops = self._crops([b for b, _ in pairs])
        rows = [
            (
                crop,
                [
                    (f"truth:  {b['truth']}", BLACK),
                    (f"before: {b['prediction']}", GREEN if b["correct"] else RED),
                    (f"after:  {a['prediction']}", GREEN if a["correct"] else RED),
                ],
            )
            for (b, a), crop in zip(pairs, crops, strict=True)
        ]
        return caption_sheet(rows, path)

    def _crops(self, details: list[dict[str, Any]]) -> list[np.ndarray]:
        """The val crops these evaluated samples were read from, the way up they were read."""
        from ocrtrain.data.rec_dataset import load_rec_image

        by_source = {s.source: s for s in self.eval_dataset().samples}
        crops = [load_rec_image(by_source[d["source"]]) for d in details]
        return [
            cv2.rotate(c, cv2.ROTATE_180) if d.get("other_way") else c
            for c, d in zip(crops, details, strict=True)
        ]

    # ---- checkpoints and export ----------------------------------------------------------------------------------
    def checkpoint_meta(self) -> tuple[dict[str, Any], dict[str, str]]:
        meta = {"task": "rec", "model_name": self.model_cfg.name, "dict_sha256": self.char_dict.sha256}
        return meta, {"dict.txt": "\n".join(self.char_dict.characters) + "\n"}

    def check_resume(self, state: dict[str, Any]) -> None:
        if state.get("task") != "rec":
            raise ValueError(f"cannot resume a rec run from a {state.get('task')} checkpoint")
        if state.get("dict_sha256") != self.char_dict.sha256:
            raise ValueError(
                "the checkpoint was trained with a different dictionary (sha256 "
                f"{str(state.get('dict_sha256'))[:12]}... vs this run's {self.char_dict.sha256[:12]}...): "
                "its output classes mean other characters; use the checkpoint's dict.txt as data.dict"
            )

    def parity_batch(self) -> np.ndarray:
        dataset = self.eval_dataset()
        return np.stack([dataset[i]["image"] for i in range(min(4, len(dataset)))])

    def export_input_shape(self) -> list[int | None]:
        return [None, 3, int(self.model_cfg.image_shape[0]), None]

    def provenance(self) -> dict[str, Any]:
        """Which model, data and dictionary: each label file's path, line count and sha256, the dictionary's hash."""
        return {
            "model_name": self.model_cfg.name,
            "dataset": self.data_cfg.get("name"),
            "label_files": fingerprint_label_files(self.data_cfg),
            "dict_sha256": self.char_dict.sha256,
        }

    def inference_yml(self) -> dict[str, Any]:
        """The exported recogniser's inference.yml: input shape and dictionary."""
        return rec_inference_yml(
            self.model_cfg.name, list(self.model_cfg.image_shape), list(self.char_dict.characters)
        )
