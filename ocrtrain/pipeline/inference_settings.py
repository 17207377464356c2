"""A model's inference settings, kept in its ``inference.yml`` (docs/architecture.md: exported-dir format).

Export writes them; the pipeline, eval and export read them back, so a model carries its resize rule, normalisation
and post-process values (det) or input shape and dictionary (rec) wherever it is loaded. Zoo models, which ship
without an ``inference.yml``, get the same content built from their model config (``conf/det|rec|cls/<name>.yaml``).
``pipeline.*`` values override a model's own where they are set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocrtrain.pipeline.configs import zoo_model_config
from ocrtrain.pipeline.model_files import ModelSourceError
from ocrtrain.postprocess.ctc import CTCLabelDecode
from ocrtrain.preprocess import DET_MEAN, DET_STD

DET_NORMALIZE = {"mean": list(DET_MEAN), "std": list(DET_STD), "scale": "1./255.", "order": "hwc"}
_DECODE = {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}}


def det_inference_yml(model_name: str, resize: dict[str, Any], postprocess: dict[str, Any]) -> dict[str, Any]:
    """PaddleX-style inference.yml of a DB detector: resize rule, normalisation, DBPostProcess values."""
    return {
        "Global": {"model_name": model_name},
        "PreProcess": {
            "transform_ops": [
                _DECODE,
                {
                    "DetResizeForTest": {
                        "limit_side_len": int(resize["limit_side_len"]),
                        "limit_type": resize["limit_type"],
                    }
                },
                {"NormalizeImage": dict(DET_NORMALIZE)},
                {"ToCHWImage": None},
                {"KeepKeys": {"keep_keys": ["image", "shape"]}},
            ]
        },
        "PostProcess": {"name": "DBPostProcess", **{k: v for k, v in postprocess.items() if k != "name"}},
    }


def rec_inference_yml(model_name: str, image_shape: list[int], characters: list[str]) -> dict[str, Any]:
    """inference.yml of a CTC recogniser: input height and minimum width, and its dictionary."""
    use_space = characters[-1] == " "
    return {
        "Global": {"model_name": model_name},
        "PreProcess": {
            "transform_ops": [
                _DECODE,
                {"RecResizeImg": {"image_shape": [3, int(image_shape[0]), int(image_shape[1])]}},
                {"KeepKeys": {"keep_keys": ["image"]}},
            ]
        },
        # PaddleX appends the space itself when use_space_char is true
        "PostProcess": {
            "name": "CTCLabelDecode",
            "use_space_char": use_space,
            "character_dict": list(characters[:-1] if use_space else characters),
        },
    }


def cls_inference_yml(model_name: str, image_shape: list[int], label_list: list[str]) -> dict[str, Any]:
    """inference.yml of a text-line orientation classifier."""
    return {
        "Global": {"model_name": model_name},
        "PreProcess": {"transform_ops": [_DECODE, {"ClsResizeImg": {"image_shape": [3, *image_shape]}}]},
        "PostProcess": {"name": "ClsPostProcess", "label_list": list(label_list)},
    }


def zoo_inference_yml(name: str, task: str) -> dict[str, Any]:
    """The inference.yml a zoo model would have, from its model config."""
    cfg = zoo_model_config(name, task)
    if task == "det":
        return det_inference_yml(name, cfg["infer_resize"], cfg["postprocess"])
    if task == "rec":
        from ocrtrain.data.dictionary import CharDict

        return rec_inference_yml(
            name, cfg["image_shape"], list(CharDict.pretrained(cfg.get("dictionary", name)).characters)
        )
    return cls_inference_yml(name, cfg["image_shape"], cfg["label_list"])


def _op(meta: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    for op in (meta.get("PreProcess") or {}).get("transform_ops") or []:
        if isinstance(op, dict) and name in op:
            return op[name] or {}
    raise ModelSourceError(f"{where}: PreProcess.transform_ops has no {name}")


def _scale(value: Any) -> float:
    """NormalizeImage's scale, a number or PaddleOCR's string form '1./255.'."""
    if isinstance(value, str) and "/" in value:
        num, den = value.split("/")
        return float(num) / float(den)
    return float(value)


@dataclass(frozen=True)
class DetSettings:
    limit_side_len: int
    limit_type: str  # max | min | resize_long
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float
    postprocess: dict[str, Any]  # the DBPostProcess component config (name and values)


@dataclass(frozen=True)
class RecSettings:
    image_height: int
    image_width: int  # the narrowest batch width
    postprocess: dict[str, Any]  # the CTCLabelDecode component config (name, character_dict, use_space_char)


@dataclass(frozen=True)
class ClsSettings:
    image_height: int
    image_width: int
    postprocess: dict[str, Any]  # the ClsPostProcess component config (name, label_list)


def det_settings(meta: dict[str, Any], where: str) -> DetSettings:
    resize = _op(meta, "DetResizeForTest", where)
    norm = _op(meta, "NormalizeImage", where)
    post = dict(meta.get("PostProcess") or {})
    if post.get("name") != "DBPostProcess":
        raise ModelSourceError(
            f"{where}: a detector needs PostProcess.name DBPostProcess, got {post.get('name')!r}"
        )
    if "limit_side_len" in resize:
        side, kind = int(resize["limit_side_len"]), str(resize.get("limit_type", "min"))
    elif "resize_long" in resize:
        side, kind = int(resize["resize_long"]), "resize_long"
    else:
        raise ModelSourceError(
            f"{where}: DetResizeForTest needs limit_side_len (and limit_type) or resize_long"
        )
    return DetSettings(
        side,
        kind,
        tuple(float(v) for v in norm.get("mean", DET_NORMALIZE["mean"])),
        tuple(float(v) for v in norm.get("std", DET_NORMALIZE["std"])),
        _scale(norm.get("scale", DET_NORMALIZE["scale"])),
        post,
    )


def rec_settings(meta: dict[str, Any], where: str) -> RecSettings:
    shape = _op(meta, "RecResizeImg", where).get("image_shape")
    post = meta.get("PostProcess") or {}
    if post.get("name") != "CTCLabelDecode" or not post.get("character_dict"):
        raise ModelSourceError(
            f"{where}: a recognition model needs PostProcess CTCLabelDecode with its character_dict"
        )
    if not shape or len(shape) != 3:
        raise ModelSourceError(f"{where}: RecResizeImg.image_shape must be [3, height, width], got {shape}")
    return RecSettings(int(shape[1]), int(shape[2]), dict(post))


def rec_classes(meta: dict[str, Any]) -> int | None:
    """The classes a CTC graph scores for ``meta``'s decoder: the blank and each character it knows (its dictionary,
    plus the space it appends for ``use_space_char``); None without a dictionary."""
    post = meta.get("PostProcess") or {}
    if not post.get("character_dict"):
        return None
    return len(CTCLabelDecode(post["character_dict"], bool(post.get("use_space_char", True))).characters) + 1


def check_rec_classes(meta: dict[str, Any], where: str, output_shape: list[int]) -> None:
    """A dictionary of another size than the graph's classes reads past them or decodes the wrong characters. A
    dynamic class dimension (-1) is not checked."""
    classes = output_shape[-1] if output_shape else -1
    needed = rec_classes(meta)
    if classes < 0 or needed is None:  # no dictionary: rec_settings names what is missing
        return
    if classes != needed:
        raise ModelSourceError(
            f"{where}: the dictionary (character_dict, with use_space_char's space) has {needed - 1} "
            f"characters, so the model needs {needed} classes with the CTC blank, but its graph "
            f"outputs {classes}: the dictionary of another model?"
        )


def cls_settings(meta: dict[str, Any], where: str) -> ClsSettings:
    shape = _op(meta, "ClsResizeImg", where).get("image_shape")
    post = meta.get("PostProcess") or {}
    if not shape or len(shape) != 3 or post.get("name") != "ClsPostProcess" or not post.get("label_list"):
        raise ModelSourceError(
            f"{where}: a classifier needs ClsResizeImg.image_shape and PostProcess ClsPostProcess with its label_list"
        )
    return ClsSettings(int(shape[1]), int(shape[2]), dict(post))
