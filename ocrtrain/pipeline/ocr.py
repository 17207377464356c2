"""The general OCR pipeline: detect -> crop -> (orient) -> recognise, on paddle.inference or ONNX Runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf

from ocrtrain.components import build
from ocrtrain.config import compose
from ocrtrain.config_schema import (
    BOOLEAN,
    BOOLEAN_OR_NULL,
    POSITIVE_INT,
    POSITIVE_INT_OR_NULL,
    POSITIVE_NUMBER,
    POSITIVE_NUMBER_OR_NULL,
    TEXT,
    TEXT_OR_NULL,
    UNIT_INTERVAL,
    UNIT_INTERVAL_OR_NULL,
    ConfigError,
    Rule,
    check_known,
    check_rules,
    in_yaml_file,
    one_of,
)
from ocrtrain.crop import CROP_MODES, sort_reading_order, turn_upright
from ocrtrain.pipeline.inference_settings import cls_settings, det_settings, rec_settings
from ocrtrain.pipeline.inputs import iter_inputs
from ocrtrain.pipeline.model_source import ModelSource, resolve_model_source
from ocrtrain.pipeline.predictor import BACKENDS, Predictor, load_predictor
from ocrtrain.pipeline.result import OCRResult
from ocrtrain.postprocess.ctc import keep_surer
from ocrtrain.postprocess.db import SCORE_MODES
from ocrtrain.preprocess import LIMIT_TYPES, normalize_det, resize_det, resize_norm_rec

PIPELINE_CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "pipeline"

_ENGINES = ("auto", *BACKENDS)
# every pipeline setting (conf/pipeline/OCR.yaml) and what its value must be; devices and model specs are checked
# further where they are parsed
PIPELINE_RULES: dict[str, Rule] = {
    "device": TEXT,
    "backend": one_of(_ENGINES),
    "cpu_threads": POSITIVE_INT,
    "enable_mkldnn": BOOLEAN,
    "url_deadline_s": POSITIVE_NUMBER,
    "det_model": TEXT,
    "det_device": TEXT_OR_NULL,
    "det_backend": one_of(_ENGINES, nullable=True),
    "det_limit_side_len": POSITIVE_INT_OR_NULL,
    "det_limit_type": one_of(LIMIT_TYPES, nullable=True),
    "det_thresh": UNIT_INTERVAL_OR_NULL,
    "det_box_thresh": UNIT_INTERVAL_OR_NULL,
    "det_unclip_ratio": POSITIVE_NUMBER_OR_NULL,
    "det_max_candidates": POSITIVE_INT_OR_NULL,
    "det_score_mode": one_of(SCORE_MODES, nullable=True),
    "det_use_dilation": BOOLEAN_OR_NULL,
    "crop_mode": one_of(CROP_MODES),
    "rec_model": TEXT,
    "rec_device": TEXT_OR_NULL,
    "rec_backend": one_of(_ENGINES, nullable=True),
    "rec_batch_size": POSITIVE_INT,
    "rec_image_height": POSITIVE_INT_OR_NULL,
    "rec_image_width": POSITIVE_INT_OR_NULL,
    "rec_width_multiple": POSITIVE_INT,
    "rec_score_thresh": UNIT_INTERVAL,
    "rec_tall_crops_both_ways": BOOLEAN,
    "use_textline_orientation": BOOLEAN,
    "textline_orientation_model": TEXT,
    "textline_orientation_batch_size": POSITIVE_INT,
    "textline_orientation_thresh": UNIT_INTERVAL,
}


def check_pipeline_settings(node: Any, prefix: str) -> None:
    """Every key of ``node`` is a pipeline setting and every value passes its rule (:data:`PIPELINE_RULES`)."""
    check_known(node, PIPELINE_RULES, prefix)
    check_rules(node, PIPELINE_RULES, prefix)


# infer's and serve's top-level keys that set a pipeline setting of the same name, over the ``pipeline`` node
SHORTCUTS = ("device", "backend", "det_model", "rec_model")


def _load_pipeline_file(path: Path) -> DictConfig:
    """A saved pipeline config, or an ``ocrtrain.infer --cfg job`` dump: its ``pipeline`` node with the dump's
    shortcuts (``det_model: ...`` at the top) over it. Checked: an error names the file, the line and the key."""
    loaded = OmegaConf.load(path)
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{path}: expected a mapping of pipeline settings, got a list")
    if not isinstance(loaded.get("pipeline"), DictConfig):
        parts = [(loaded, "")]
    else:
        shortcuts = OmegaConf.create({k: loaded[k] for k in SHORTCUTS if loaded.get(k) is not None})
        parts = [(loaded.pipeline, "pipeline"), (shortcuts, "")]
    for node, prefix in parts:
        try:
            check_pipeline_settings(node, prefix)
        except ConfigError as e:
            raise in_yaml_file(path, e) from None
    return OmegaConf.merge(*(node for node, _ in parts))


def load_pipeline_config(
    config: str | Path | dict | DictConfig | None = None, **overrides: Any
) -> DictConfig:
    """Defaults of ``conf/pipeline/OCR.yaml``, then ``config`` (a name, a YAML file or a mapping), then ``overrides``;
    an unknown key or a value of the wrong kind is a :class:`ConfigError` naming it (and the file and line).

    A YAML file may be a pipeline config or a whole ``ocrtrain.infer --cfg job`` dump (its ``pipeline`` node is used).
    """
    cfg = OmegaConf.load(PIPELINE_CONF_DIR / "OCR.yaml")
    if isinstance(config, (str, Path)) and str(config) != "OCR":
        path = Path(config)
        if path.is_file():
            loaded = _load_pipeline_file(path)
        elif (PIPELINE_CONF_DIR / f"{config}.yaml").is_file():  # packaged: composed, as its defaults may say
            loaded = compose(f"pipeline/{config}").pipeline
        else:
            raise FileNotFoundError(
                f"pipeline config '{config}': no such file, and not a packaged pipeline name"
            )
        cfg = OmegaConf.merge(cfg, loaded)
    elif isinstance(config, (dict, DictConfig)):
        cfg = OmegaConf.merge(cfg, config)
    cfg = OmegaConf.merge(cfg, overrides)
    check_pipeline_settings(cfg, "pipeline")
    return cfg


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


# pipeline keys det_<name> that override the detector's DBPostProcess values
_DB_KEYS = ("thresh", "box_thresh", "unclip_ratio", "max_candidates", "score_mode", "use_dilation")


def _db_config(model_values: dict[str, Any], cfg: DictConfig) -> dict[str, Any]:
    """The detector's DBPostProcess config with each ``det_<name>`` pipeline value that is set (not null) put in."""
    given = {k: cfg[f"det_{k}"] for k in _DB_KEYS if cfg.get(f"det_{k}") is not None}
    return {**model_values, **given}


class OCRPipeline:
    """Text detection (DB) + recognition (CTC) with the shipped PP-OCRv4 weights or the user's own models; ``cfg``
    comes from :func:`load_pipeline_config`, which checks it."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

        def load(
            spec: str, task: str, device: str | None, backend: str | None
        ) -> tuple[ModelSource, Predictor]:
            backend = backend or cfg.backend
            source = resolve_model_source(spec, task, backend)
            predictor = load_predictor(
                source,
                device or cfg.device,
                backend,
                cpu_threads=int(cfg.cpu_threads),
                enable_mkldnn=bool(cfg.enable_mkldnn),
            )
            return source, predictor

        det_source, self.det = load(cfg.det_model, "det", cfg.det_device, cfg.det_backend)
        rec_source, self.rec = load(cfg.rec_model, "rec", cfg.rec_device, cfg.rec_backend)
        # the models' own settings (inference.yml), with every pipeline value that is set winning
        det = det_settings(det_source.meta, det_source.origin)
        self.det_resize = {
            "limit_side_len": _given(cfg.det_limit_side_len, det.limit_side_len),
            "limit_type": _given(cfg.det_limit_type, det.limit_type),
        }
        self.det_normalize = {"mean": det.mean, "std": det.std, "scale": det.scale}
        self.db_config = build("postprocess", _db_config(det.postprocess, cfg))
        rec = rec_settings(rec_source.meta, rec_source.origin)
        self.rec_shape = (
            int(_given(cfg.rec_image_height, rec.image_height)),
            int(_given(cfg.rec_image_width, rec.image_width)),
        )
        self.decode = build("postprocess", rec.postprocess)
        self.crop = CROP_MODES[cfg.crop_mode]
        self.cls = None
        if cfg.use_textline_orientation:
            cls_source, self.cls = load(
                cfg.textline_orientation_model, "cls", cfg.rec_device, cfg.rec_backend
            )
            orientation = cls_settings(cls_source.meta, cls_source.origin)
            self.cls_shape = (orientation.image_height, orientation.image_width)
            self.classify = build("postprocess", orientation.postprocess)

    def detect(self, img: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
        """Quads (tl, tr, br, bl; original pixels) in reading order, with their DB scores."""
        h, w = img.shape[:2]
        resized, _ = resize_det(img, int(self.det_resize["limit_side_len"]), self.det_resize["limit_type"])
        prob = self.det(normalize_det(resized, **self.det_normalize)[None])[0, 0]
        quads, scores = self.db_config(prob, (h, w))
        kept = []
        for quad, score in zip(quads, scores, strict=True):
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
            batch = np.stack([resize_norm_rec(c, *self.cls_shape) for c in crops[start : start + bs]])
            for j, (label, score) in enumerate(self.classify(self.cls(batch))):
                if label == "180" and score > self.cfg.textline_orientation_thresh:
                    out[start + j] = cv2.rotate(crops[start + j], cv2.ROTATE_180)
        return out

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and score of each crop; crops run in width-sorted batches of ``rec_batch_size``."""
        height, base_width = self.rec_shape
        ratios = [c.shape[1] / max(c.shape[0], 1) for c in crops]
        order = np.argsort(ratios, kind="stable")
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        bs, multiple = int(self.cfg.rec_batch_size), int(self.cfg.rec_width_multiple)
        for start in range(0, len(crops), bs):
            idx = order[start : start + bs]
            max_ratio = max(base_width / height, max(ratios[i] for i in idx))
            width = int(height * max_ratio)
            width = (
                -(-width // multiple) * multiple
            )  # few distinct input shapes: paddle builds kernels per shape
            batch = np.stack([resize_norm_rec(crops[i], height, width) for i in idx])
            for i, decoded in zip(idx, self.decode(self.rec(batch)), strict=True):
                results[i] = decoded
        return results

    def _read_turned_other_way(
        self, crops: list[np.ndarray], turned: list[bool], texts: list[tuple[str, float]]
    ) -> list[tuple[str, float]]:
        """Read each crop turned upright from a tall box also turned 180° (its text may run down or up); keep the
        surer reading."""
        which = [i for i, t in enumerate(turned) if t]
        if not which:
            return texts
        others = self.recognize([cv2.rotate(crops[i], cv2.ROTATE_180) for i in which])
        return keep_surer(texts, others, which)[0]

    def predict_image(self, img: np.ndarray, img_path: str | None = None) -> OCRResult:
        quads, det_scores = self.detect(img)
        crops, turned = [], []
        for quad in quads:
            crop, was_turned = turn_upright(self.crop(img, quad, rotate_ratio=None))
            crops.append(crop)
            turned.append(was_turned)
        if self.cls is not None and crops:
            crops = self._orient(crops)
        texts = self.recognize(crops) if crops else []
        if self.cfg.rec_tall_crops_both_ways:
            texts = self._read_turned_other_way(crops, turned, texts)
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
        for img_path, img in iter_inputs(inputs, float(self.cfg.url_deadline_s)):
            yield self.predict_image(img, img_path)


def create_pipeline(
    pipeline: str | Path | dict | DictConfig = "OCR", device: str | None = None, **options: Any
) -> OCRPipeline:
    """Build the OCR pipeline: ``create_pipeline("OCR", device="cpu")`` or from a saved config file.

    Keyword options override the config (e.g. ``det_model=".../exported_dir"``, ``rec_batch_size=8``).
    """
    if device is not None:
        options["device"] = device
    return OCRPipeline(load_pipeline_config(pipeline, **options))
