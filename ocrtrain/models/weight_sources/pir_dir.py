"""Paddle 3 (PIR) inference directories (``inference.json`` + ``inference.pdiparams``), e.g. our exported models.

Our export stores each parameter under its training name (see ``ocrtrain.models.export``), so the program's
parameter names are the training names; a recogniser's dictionary comes from ``inference.yml``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ocrtrain.components import register
from ocrtrain.models.weight_sources.paddle_files import read_combined_params, read_program
from ocrtrain.models.weights import Weights
from ocrtrain.postprocess.ctc import CTCLabelDecode


def _characters(meta_file: Path) -> list[str] | None:
    if not meta_file.is_file():
        return None
    post = (yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}).get("PostProcess") or {}
    if not post.get("character_dict"):
        return None
    return CTCLabelDecode(post["character_dict"], bool(post.get("use_space_char", True))).characters


@register("weight_source", "paddle_pir_dir")
class PirInferenceDir:
    @staticmethod
    def claims(spec: str) -> bool:
        return (Path(spec).expanduser() / "inference.json").is_file()

    @staticmethod
    def read(spec: str) -> Weights:
        directory = Path(spec).expanduser()
        params = directory / "inference.pdiparams"
        if not params.is_file():
            raise FileNotFoundError(f"{params}: missing; a Paddle inference model needs inference.pdiparams")
        tensors = read_combined_params(params, read_program(directory / "inference.json").param_names)
        return Weights(str(directory), tensors, characters=_characters(directory / "inference.yml"))
