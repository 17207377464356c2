"""Zoo names (``PP-OCRv4_mobile_det``...): the shipped legacy inference directories (see ``ocrtrain.zoo``)."""

from __future__ import annotations

from ocrtrain import zoo
from ocrtrain.components import register
from ocrtrain.models.weight_sources.legacy_dir import read_legacy_dir
from ocrtrain.models.weights import Weights


@register("weight_source", "zoo")
class ZooName:
    @staticmethod
    def claims(spec: str) -> bool:
        return spec in zoo.ZOO

    @staticmethod
    def read(spec: str) -> Weights:
        weights = read_legacy_dir(zoo.zoo_model_dir(spec), source=spec)
        if zoo.ZOO[spec].task == "rec":
            from ocrtrain.data.dictionary import CharDict

            weights.characters = list(CharDict.pretrained().characters)
        return weights
