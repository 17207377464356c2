"""Where a ``det_model`` / ``rec_model`` / ``cls_model`` value points: the one place that resolves model specs.

Accepted: a zoo name (``PP-OCRv4_mobile_det``), a local exported inference directory (DESIGN.md §5:
``inference.json`` + ``inference.pdiparams`` + ``inference.yml``), or a legacy Paddle inference directory
(``inference.pdmodel`` + ``inference.pdiparams``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ocrtrain import zoo
from ocrtrain.data.dictionary import CharDict

# PostProcess names in inference.yml, as PaddleX writes them, and the task each implies
_POSTPROCESS_TASK = {"DBPostProcess": "det", "CTCLabelDecode": "rec", "ClsPostProcess": "cls"}


class ModelSourceError(ValueError):
    """A model spec that cannot be resolved or does not fit the role it was given."""


@dataclass
class ModelSource:
    spec: str  # what the user wrote
    task: str  # "det" | "rec" | "cls"
    model_file: Path
    params_file: Path
    meta: dict[str, Any] = field(default_factory=dict)  # inference.yml content ({} for zoo models)
    characters: list[str] | None = None  # rec: class k+1 -> characters[k]; class 0 is the CTC blank

    @property
    def name(self) -> str:
        return self.meta.get("Global", {}).get("model_name") or self.spec


def _from_dir(path: Path, spec: str) -> tuple[Path, Path, dict[str, Any]]:
    params = path / "inference.pdiparams"
    for model_name in ("inference.json", "inference.pdmodel"):
        if (path / model_name).is_file() and params.is_file():
            meta_file = path / "inference.yml"
            meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
            return path / model_name, params, meta or {}
    found = sorted(p.name for p in path.iterdir())[:10]
    raise ModelSourceError(
        f"{spec}: not an inference model directory: expected inference.json (or inference.pdmodel) and "
        f"inference.pdiparams, found {found}"
    )


def _task_of(meta: dict[str, Any]) -> str | None:
    ours = meta.get("ocrtrain", {}).get("task")
    if ours:
        return ours
    return _POSTPROCESS_TASK.get(meta.get("PostProcess", {}).get("name", ""))


def resolve_model_source(spec: str | Path, task: str) -> ModelSource:
    """Resolve ``spec`` for the ``task`` role ("det", "rec", "cls"), with clear errors for a wrong role."""
    text = str(spec).strip()
    if not text:
        raise ModelSourceError(f"empty {task} model spec")
    if text.startswith(("models:/", "runs:/")):
        from ocrtrain.registry import download_model  # only when asked: keeps mlflow out of plain inference

        return resolve_model_source(download_model(text), task)
    if text in zoo.ZOO:
        entry = zoo.ZOO[text]
        if entry.task != task:
            raise ModelSourceError(f"'{text}' is a {entry.task} model but was given as the {task} model")
        directory = zoo.zoo_model_dir(text)
        chars = list(CharDict.pretrained().characters) if task == "rec" else None
        return ModelSource(
            text, task, directory / "inference.pdmodel", directory / "inference.pdiparams", {}, chars
        )
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelSourceError(
            f"{task} model '{text}' is neither a known zoo name ({', '.join(sorted(zoo.ZOO))}) nor an existing path"
        )
    if not path.is_dir():
        raise ModelSourceError(f"{task} model '{text}' must be a directory with an exported inference model")
    model_file, params_file, meta = _from_dir(path, text)
    found_task = _task_of(meta)
    if found_task is not None and found_task != task:
        raise ModelSourceError(f"'{text}' holds a {found_task} model but was given as the {task} model")
    chars = None
    if task == "rec":
        inline = meta.get("PostProcess", {}).get("character_dict")
        if not inline:
            raise ModelSourceError(
                f"{path / 'inference.yml'}: a recognition model needs PostProcess.character_dict (its dictionary)"
            )
        chars = [str(c) for c in inline]
        if meta.get("PostProcess", {}).get("use_space_char", True) and " " not in chars:
            chars.append(" ")
    return ModelSource(text, task, model_file, params_file, meta, chars)
