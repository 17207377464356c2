"""The general OCR pipeline: detect -> crop -> (orient) -> recognise, on any device paddle.inference drives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf

from ocrtrain.crop import crop_quad, order_quad, sort_reading_order
from ocrtrain.devices import parse_device
from ocrtrain.pipeline.inputs import iter_inputs
from ocrtrain.pipeline.model_source import resolve_model_source
from ocrtrain.pipeline.predictor import InferenceModel
from ocrtrain.pipeline.result import OCRResult
from ocrtrain.postprocess.ctc import ctc_greedy_decode
from ocrtrain.postprocess.db import DBPostProcessConfig, db_boxes
from ocrtrain.preprocess import normalize_det, resize_det, resize_norm_rec

PIPELINE_CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "pipeline"


def load_pipeline_config(
    config: str | Path | dict | DictConfig | None = None, **overrides: Any
) -> DictConfig:
    """Defaults of ``conf/pipeline/OCR.yaml``, then ``config`` (a name, a YAML file or a mapping), then ``overrides``.

    A YAML file may be a pipeline config or a whole ``ocrtrain.infer --cfg job`` dump (its ``pipeline`` node is used).
    """
    cfg = OmegaConf.load(PIPELINE_CONF_DIR / "OCR.yaml")
    if isinstance(config, (str, Path)) and str(config) != "OCR":
        path = Path(config)
        if not path.is_file():
            packaged = PIPELINE_CONF_DIR / f"{config}.yaml"
            if not packaged.is_file():
                raise FileNotFoundError(
                    f"pipeline config '{config}': no such file, and not a packaged pipeline name"
                )
            path = packaged
        loaded = OmegaConf.load(path)
        cfg = OmegaConf.merge(
            cfg, loaded.get("pipeline", loaded) if isinstance(loaded, DictConfig) else loaded
        )
    elif isinstance(config, (dict, DictConfig)):
        cfg = OmegaConf.merge(cfg, config)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise KeyError(f"unknown pipeline option(s) {unknown}; known: {sorted(cfg)}")
    return OmegaConf.merge(cfg, overrides)


class OCRPipeline:
    """Text detection (DB) + recognition (CTC) with the shipped PP-OCRv4 weights or the user's own models."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        default_device = cfg.device
        threads, mkldnn = int(cfg.cpu_threads), bool(cfg.enable_mkldnn)

        def load(spec: str, task: str, device: str | None) -> InferenceModel:
            source = resolve_model_source(spec, task)
            return InferenceModel(source, parse_device(device or default_device), threads, mkldnn)

        self.det = load(cfg.det_model, "det", cfg.det_device)
        self.rec = load(cfg.rec_model, "rec", cfg.rec_device)
        self.cls = (
            load(cfg.textline_orientation_model, "cls", cfg.rec_device)
            if cfg.use_textline_orientation
            else None
        )
        self.db_config = DBPostProcessConfig(
            thresh=cfg.det_thresh,
            box_thresh=cfg.det_box_thresh,
            unclip_ratio=cfg.det_unclip_ratio,
            max_candidates=cfg.det_max_candidates,
            score_mode=cfg.det_score_mode,
            use_dilation=cfg.det_use_dilation,
        )
        self.characters = self.rec.source.characters

    def detect(self, img: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
        """Quads (tl, tr, br, bl; original pixels) in reading order, with their DB scores."""
        h, w = img.shape[:2]
        resized, _ = resize_det(img, self.cfg.det_limit_side_len, self.cfg.det_limit_type)
        prob = self.det(normalize_det(resized)[None])[0, 0]
        quads, scores = db_boxes(prob, (h, w), self.db_config)
        kept = []
        for quad, score in zip(quads, scores, strict=True):
            quad = order_quad(quad)
            quad[:, 0] = np.clip(quad[:, 0], 0, w - 1)
            quad[:, 1] = np.clip(quad[:, 1], 0, h - 1)
            if np.linalg.norm(quad[0] - quad[1]) > 3 and np.linalg.norm(quad[0] - quad[3]) > 3:
                kept.append((quad, float(score)))
        order = sort_reading_order([q for q, _ in kept])
        return [kept[i][0] for i in order], [kept[i][1] for i in order]

    def _orient(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Turn crops the text-line orientation model reads as upside down (label '180') by 180°."""
        bs = int(self.cfg.textline_orientation_batch_size)
        out = list(crops)
        for start in range(0, len(crops), bs):
            batch = np.stack([resize_norm_rec(c, 48, 192) for c in crops[start : start + bs]])
            probs = self.cls(batch)
            for j, p in enumerate(probs):
                if int(p.argmax()) == 1 and float(p[1]) > self.cfg.textline_orientation_thresh:
                    out[start + j] = cv2.rotate(crops[start + j], cv2.ROTATE_180)
        return out

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and score of each crop; crops run in width-sorted batches of ``rec_batch_size``."""
        height, base_width = int(self.cfg.rec_image_height), int(self.cfg.rec_image_width)
        ratios = [c.shape[1] / max(c.shape[0], 1) for c in crops]
        order = np.argsort(ratios, kind="stable")
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        bs = int(self.cfg.rec_batch_size)
        for start in range(0, len(crops), bs):
            idx = order[start : start + bs]
            max_ratio = max(base_width / height, max(ratios[i] for i in idx))
            width = int(height * max_ratio)
            batch = np.stack([resize_norm_rec(crops[i], height, width) for i in idx])
            for i, decoded in zip(idx, ctc_greedy_decode(self.rec(batch), self.characters), strict=True):
                results[i] = decoded
        return results

    def predict_image(self, img: np.ndarray, img_path: str | None = None) -> OCRResult:
        quads, det_scores = self.detect(img)
        crops = [crop_quad(img, q) for q in quads]
        if self.cls is not None and crops:
            crops = self._orient(crops)
        texts = self.recognize(crops) if crops else []
        keep = [i for i, (_, s) in enumerate(texts) if s >= self.cfg.rec_score_thresh]
        data = {
            "img_path": img_path,
            "dt_polys": [np.round(quads[i]).astype(int).tolist() for i in keep],
            "dt_scores": [round(det_scores[i], 6) for i in keep],
            "rec_text": [texts[i][0] for i in keep],
            "rec_score": [round(texts[i][1], 6) for i in keep],
        }
        return OCRResult(data, img)

    def predict(self, inputs: Any) -> Iterator[OCRResult]:
        """Results one image at a time, for a path, directory, URL, array, ``{"img": ...}`` or a list of those."""
        for img_path, img in iter_inputs(inputs):
            yield self.predict_image(img, img_path)


def create_pipeline(
    pipeline: str | Path | dict | DictConfig = "OCR", device: str | None = None, **options: Any
):
    """Build the OCR pipeline: ``create_pipeline("OCR", device="cpu")`` or from a saved config file.

    Keyword options override the config (e.g. ``det_model=".../exported_dir"``, ``rec_batch_size=8``).
    """
    if device is not None:
        options["device"] = device
    return OCRPipeline(load_pipeline_config(pipeline, **options))
