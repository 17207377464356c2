"""Zoo names (``PP-OCRv4_mobile_det``, ``PP-OCRv5_mobile_rec``...): the shipped legacy inference directories and
ONNX graphs (see ``ocrtrain.zoo``); a recogniser's weights speak its zoo dictionary."""

from __future__ import annotations

from ocrtrain import zoo
from ocrtrain.components import register
from ocrtrain.models.weight_sources.legacy_dir import read_legacy_dir
from ocrtrain.models.weight_sources.onnx import read_onnx
from ocrtrain.models.weights import Weights


@register("weight_source", "zoo")
class ZooName:
    @staticmethod
    def claims(spec: str) -> bool:
        return spec in zoo.ZOO

    @staticmethod
    def read(spec: str) -> Weights:
        onnx_file = zoo.zoo_onnx_file(spec)
        weights = (
            read_onnx(onnx_file, source=spec)
            if onnx_file
            else read_legacy_dir(zoo.zoo_model_dir(spec), source=spec)
        )
        if zoo.ZOO[spec].task == "rec":
            from ocrtrain.data.dictionary import CharDict

            weights.characters = list(CharDict.pretrained(spec).characters)
        return weights
