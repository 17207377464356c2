"""A PaddleOCR training config (``tools/train.py -c config.yml -o Key.sub=value``) as the ocrtrain command that trains
the same model on the same data: what maps, and a note for each setting that does not carry over as it is.

PaddleOCR's paths are relative to the directory ``tools/train.py`` ran in (``cwd``); label files name their images
relative to ``Train.dataset.data_dir``, which becomes ``data.root``.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# (model_type, backbone, scale) -> the ocrtrain model config with that architecture
MODELS = {
    ("det", "PPLCNetV3", 0.75): "PP-OCRv4_mobile_det",
    ("rec", "PPLCNetV3", 0.95): "PP-OCRv4_mobile_rec",
}
# a rec config trained with PP-OCRv5's dictionary is PP-OCRv5 mobile rec (the same architecture as v4's)
V5_DICTIONARY = "ppocrv5_dict.txt"
DEFAULT_DICTIONARIES = {"PP-OCRv4_mobile_rec": "ppocr_keys_v1.txt", "PP-OCRv5_mobile_rec": V5_DICTIONARY}


class PaddleOCRConfigError(ValueError):
    """A PaddleOCR config that does not describe a model and data ocrtrain can train."""


@dataclass
class Translation:
    args: list[str]  # the ocrtrain train command's key=value arguments
    notes: list[str] = field(default_factory=list)  # settings that did not carry over as they were

    def command(self) -> str:
        return " ".join(["python -m ocrtrain.train", *(shlex.quote(a) for a in self.args)])


def read_config(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    """The YAML file with PaddleOCR's ``-o Key.sub=value`` overrides applied (values read as YAML, as PaddleOCR does)."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PaddleOCRConfigError(f"{path}: not readable YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise PaddleOCRConfigError(f"{path}: expected a mapping of sections (Global, Architecture, ...)")
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise PaddleOCRConfigError(f"-o {override}: expected Key.sub=value")
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return config


def _model(config: dict[str, Any]) -> tuple[str, str]:
    arch = config.get("Architecture") or {}
    kind, backbone = arch.get("model_type"), arch.get("Backbone") or {}
    key = (kind, backbone.get("name"), float(backbone.get("scale", 1.0)))
    name = MODELS.get(key)
    if name is None:
        known = ", ".join(f"{k} {b} scale {s}" for k, b, s in MODELS)
        raise PaddleOCRConfigError(
            f"Architecture: a {kind} model with backbone {key[1]} at scale {key[2]:g} is not one ocrtrain trains "
            f"(known: {known})"
        )
    dictionary = str((config.get("Global") or {}).get("character_dict_path") or "")
    if kind == "rec" and Path(dictionary).name == V5_DICTIONARY:
        name = "PP-OCRv5_mobile_rec"
    return kind, name


def _split(dataset: dict[str, Any], cwd: Path, section: str) -> tuple[Path, list[str], list[float] | None]:
    """(data_dir, label files relative to it where they are inside it, ratio_list) of a Train/Eval dataset."""
    if not dataset.get("data_dir"):
        raise PaddleOCRConfigError(f"{section}.dataset.data_dir: not set")
    data_dir = Path(os.path.abspath(cwd / str(dataset["data_dir"])))
    if dataset.get("name") == "LMDBDataSet":  # the data_dir is the folder of databases
        return data_dir.parent, [data_dir.name], None
    files = dataset.get("label_file_list") or []
    if isinstance(files, str):
        files = [files]
    if not files:
        raise PaddleOCRConfigError(f"{section}.dataset.label_file_list: not set")
    labels = []
    for file in files:
        path = Path(os.path.abspath(cwd / str(file)))
        inside = path.is_relative_to(data_dir)
        labels.append(path.relative_to(data_dir).as_posix() if inside else str(path))
    ratios = dataset.get("ratio_list")
    ratios = [float(r) for r in ratios] if isinstance(ratios, list) else ([float(ratios)] if ratios else None)
    return data_dir, labels, ratios


def _list(values: list[Any]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


def translate(config: dict[str, Any], cwd: str | Path = ".") -> Translation:
    """The ocrtrain train arguments for a PaddleOCR training ``config`` whose paths are relative to ``cwd``."""
    cwd = Path(cwd)
    kind, name = _model(config)
    glob = config.get("Global") or {}
    train = (config.get("Train") or {}).get("dataset") or {}
    evaluation = (config.get("Eval") or {}).get("dataset") or {}
    root, train_files, ratios = _split(train, cwd, "Train")
    args = [
        f"{kind}={name}",
        "data=mine",
        f"data.root={root}",
        f"data.train.label_files={_list(train_files)}",
    ]
    notes = []
    if ratios and len(ratios) == len(train_files):
        args.append(f"data.train.ratio_list={_list(ratios)}")
    if evaluation:
        eval_root, eval_files, _ = _split(evaluation, cwd, "Eval")
        if eval_root != root:
            raise PaddleOCRConfigError(
                f"Train.dataset.data_dir ({root}) and Eval.dataset.data_dir ({eval_root}) differ: ocrtrain reads both "
                "splits' images relative to one data.root; give label files whose image paths share one folder"
            )
        args.append(f"data.val.label_files={_list(eval_files)}")

    pretrained = glob.get("pretrained_model") or glob.get("checkpoints")
    if pretrained:
        path = Path(str(pretrained))
        weights = path if path.suffix == ".pdparams" else path.with_name(path.name + ".pdparams")
        args.append(f"pretrained={os.path.abspath(cwd / weights)}")
        if glob.get("checkpoints"):
            notes.append(
                "Global.checkpoints: ocrtrain resumes only its own runs (resume=<run dir>); the checkpoint's weights "
                "are the start instead (its optimizer state and epoch are not carried over)"
            )
    dictionary = glob.get("character_dict_path")
    if kind == "rec" and dictionary and Path(str(dictionary)).name != DEFAULT_DICTIONARIES[name]:
        args.append(f"data.dict={os.path.abspath(cwd / str(dictionary))}")
    if kind == "rec" and int(glob.get("max_text_length", 25)) != 25:
        args.append(f"rec.max_text_length={int(glob['max_text_length'])}")
    if kind == "rec" and glob.get("use_space_char") is False:
        notes.append("Global.use_space_char=false: ocrtrain's dictionaries always end with the space")
    if glob.get("epoch_num"):
        args.append(f"trainer.epochs={int(glob['epoch_num'])}")
    step = glob.get("eval_batch_step")
    if isinstance(step, list) and len(step) == 2:
        args.append(f"trainer.eval_every_steps={int(step[1])}")
        if int(step[0]):
            notes.append(f"Global.eval_batch_step: evaluation starts at step 0 here, not {int(step[0])}")
    if glob.get("use_gpu"):
        args.append("device=gpu")
        notes.append(
            "Global.use_gpu: one GPU; several are device=gpu:0,1,... (data parallel, one process each)"
        )

    loader = (config.get("Train") or {}).get("loader") or {}
    batch = loader.get("batch_size_per_card")
    if batch:
        args.append(f"trainer.batch_size={int(batch)}")
    optimizer = config.get("Optimizer") or {}
    lr = (optimizer.get("lr") or {}).get("learning_rate")
    if lr is not None:
        args.append(f"{kind}.optimizer.lr={float(lr)}")
        if batch:  # PaddleOCR's rate is for its global batch: here for one card's
            args.append(f"{kind}.optimizer.reference_batch_size={int(batch)}")
            notes.append(
                f"Optimizer.lr.learning_rate {float(lr)} is taken as set for a batch of {int(batch)} (one card); "
                "ocrtrain scales it linearly to the batch it trains with"
            )
    if (optimizer.get("lr") or {}).get("warmup_epoch"):
        notes.append(
            f"Optimizer.lr.warmup_epoch {optimizer['lr']['warmup_epoch']}: warm-up is counted in steps here "
            f"({kind}.optimizer.warmup_steps, the model config's default kept)"
        )
    regularizer = optimizer.get("regularizer") or {}
    if regularizer.get("name") == "L2" and regularizer.get("factor") is not None:
        args.append(f"{kind}.optimizer.l2_decay={float(regularizer['factor'])}")
    for key in ("beta1", "beta2"):
        if optimizer.get(key) is not None:
            args.append(f"{kind}.optimizer.{key}={float(optimizer[key])}")
    if train.get("transforms"):
        notes.append(
            "Train.dataset.transforms: ocrtrain trains with its own equivalents of PaddleOCR's augmentation for this "
            f"model (README: {kind} training); the list is not read"
        )
    return Translation(args, notes)
