"""Our training checkpoints: a checkpoint directory (``model.pdparams`` + ``state.json`` [+ ``dict.txt``]) or a
training run directory (its ``checkpoints/best``, else ``checkpoints/latest``)."""

from __future__ import annotations

from pathlib import Path

from ocrtrain.components import register
from ocrtrain.models.weight_sources.pdparams import read_pdparams
from ocrtrain.models.weights import Weights

STATE_FILE = "state.json"  # written last: its presence marks a complete checkpoint
MODEL_FILE = "model.pdparams"
DICT_FILE = "dict.txt"  # rec: the dictionary the checkpoint's classifier speaks, one character a line


def read_checkpoint_weights(checkpoint: Path) -> Weights:
    """The model tensors of a checkpoint directory, with its dictionary when it has one."""
    dict_file = checkpoint / DICT_FILE
    characters = None
    if dict_file.is_file():
        characters = dict_file.read_text(encoding="utf-8").removesuffix("\n").split("\n")
    return read_pdparams(checkpoint / MODEL_FILE, characters)


@register("weight_source", "checkpoint")
class CheckpointDir:
    @staticmethod
    def claims(spec: str) -> bool:
        path = Path(spec).expanduser()
        return (path / STATE_FILE).is_file() or (path / "checkpoints").is_dir()

    @staticmethod
    def read(spec: str) -> Weights:
        path = Path(spec).expanduser()
        if not (path / STATE_FILE).is_file():
            candidates = [path / "checkpoints" / n for n in ("best", "latest")]
            found = [c for c in candidates if (c / STATE_FILE).is_file()]
            if not found:
                raise FileNotFoundError(
                    f"{path}: a run directory without a complete checkpoint in checkpoints/"
                )
            path = found[0]
        return read_checkpoint_weights(path)
