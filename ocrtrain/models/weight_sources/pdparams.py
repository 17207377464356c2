"""``.pdparams`` files (``paddle.save`` of a state dict, e.g. PaddleOCR's ``best_accuracy.pdparams``): keyed by
training name and read with the data-only unpickler. PaddleOCR's training form of the PP-LCNetV3 rep layers is folded
as it loads (``FusedRepLayer.adapt_weights``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ocrtrain import safe_pickle
from ocrtrain.components import register
from ocrtrain.models.weights import Weights


def read_pdparams(path: Path, characters: list[str] | None = None) -> Weights:
    state = safe_pickle.load_arrays(path)
    tensors = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    source = str(path)
    models = {name.split(".", 1)[0] for name in tensors}
    # PaddleOCR's distillation training saves every model it trains, each under its name (Student, Teacher, ...):
    # the student is the one it deploys
    if "Student" in models and all(m[:1].isupper() for m in models):
        tensors = {k.removeprefix("Student."): v for k, v in tensors.items() if k.startswith("Student.")}
        source = f"{path} (its Student model; also in the file: {', '.join(sorted(models - {'Student'}))})"
    return Weights(source, tensors, characters=characters)


@register("weight_source", "pdparams")
class PdparamsFile:
    @staticmethod
    def claims(spec: str) -> bool:
        path = Path(spec).expanduser()
        return path.suffix == ".pdparams" and path.is_file()

    @staticmethod
    def read(spec: str) -> Weights:
        return read_pdparams(Path(spec).expanduser())
