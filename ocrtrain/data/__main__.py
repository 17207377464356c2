"""python -m ocrtrain.data check|convert|split|synth ...  (see conf/data.yaml)"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from ocrtrain.cli import prepare_command_line, user_errors

if TYPE_CHECKING:
    from ocrtrain.data.dictionary import CharDict

COMMANDS = ("check", "convert", "split", "synth")


def positional_argv(argv: list[str]) -> list[str]:
    """Leading bare words become ``command=`` and ``conversion=`` overrides (Hydra only takes key=value)."""
    words = []
    while argv and "=" not in argv[0] and not argv[0].startswith("-"):
        words.append(argv.pop(0))
    if len(words) > 2:
        raise SystemExit(
            f"error: unexpected words {words[2:]}; usage: python -m ocrtrain.data check|convert|split|synth ..."
        )
    return [f"{key}={word}" for key, word in zip(("command", "conversion"), words, strict=False)] + argv


def with_dataset_template(argv: list[str]) -> list[str]:
    """``data.root=...`` overrides without ``data=<name>`` start from the template ``conf/data/mine.yaml``."""
    names_dataset = any(a.lstrip("+~").startswith("data=") for a in argv)
    if not names_dataset and any(a.lstrip("+~").startswith("data.") for a in argv):
        return ["data=mine", *argv]
    return argv


def _model_dictionary(cfg: DictConfig) -> CharDict | None:
    """The dictionary of the recogniser named with ``rec=<model>``, else None (check's default)."""
    from ocrtrain.data.dictionary import CharDict

    return CharDict.pretrained(cfg.rec.get("dictionary", cfg.rec.name)) if cfg.get("rec") else None


def _check(cfg: DictConfig) -> int:
    from ocrtrain.data.check import CheckOptions, check_dataset, summary_table
    from ocrtrain.data.dictionary import CharDict

    if cfg.get("data") is None:
        raise ValueError(
            "check needs a dataset: pass data=<name> (a file in conf/data) or data=mine data.root=<folder> "
            "'data.val.label_files=[<file>]'"
        )
    splits = {name: list(cfg.data[name].label_files) for name in ("train", "val") if cfg.data.get(name)}
    hydra_cfg = HydraConfig.get()
    # the template's train.txt / val.txt are placeholders: a split may be absent unless named on the command line
    given = [o.lstrip("+") for o in hydra_cfg.overrides.task]
    optional = [
        name
        for name in splits
        if hydra_cfg.runtime.choices.get("data") == "mine"
        and not any(o.startswith(f"data.{name}.label_files=") for o in given)
    ]
    # check's own dict= is a path as given; data.dict, as in training, is relative to data.root
    dict_file = cfg.dict or (Path(cfg.data.root) / cfg.data.dict if cfg.data.get("dict") else None)
    out_dir = Path(cfg.output or hydra_cfg.runtime.output_dir)
    report = check_dataset(
        cfg.data.root,
        splits,
        out_dir,
        kind=cfg.kind,
        char_dict=CharDict.from_file(dict_file) if dict_file else _model_dictionary(cfg),
        opts=CheckOptions(**cfg.check),
        strict=bool(cfg.data.get("strict")),
        optional=optional,
    )
    print(f"{report['kind']} dataset {cfg.data.get('name', '')} at {cfg.data.root}\n{summary_table(report)}")
    for name, paths in report["skipped_splits"].items():
        print(f"{name}: not checked, no label file ({', '.join(paths)})")
    for title, items in (("problems", report["problems"]), ("findings", report["findings"])):
        if items:
            print(f"\n{len(items)} {title}:\n" + "\n".join(f"  {p}" for p in items[:50]))
            if len(items) > 50:
                print(f"  ... and {len(items) - 50} more in the report")
    print(f"\nreport {out_dir / 'check_report.json'}; pictures " + ", ".join(report["pictures"]))
    print("ok" if report["ok"] else "NOT OK" + (" (data.strict=true)" if not report["problems"] else ""))
    return 0 if report["ok"] else 1


def _convert(cfg: DictConfig) -> int:
    from ocrtrain.data.convert import CONVERSIONS, convert

    if cfg.conversion is None or cfg.input is None or cfg.output is None:
        raise ValueError(
            f"usage: python -m ocrtrain.data convert <{'|'.join(CONVERSIONS)}> input=... output=..."
        )
    print(convert(cfg.conversion, cfg.input, cfg.output, cfg.root, bool(cfg.skip_bad), bool(cfg.overwrite)))
    return 0


def _split(cfg: DictConfig) -> int:
    from ocrtrain.data.split import split_label_files

    if cfg.input is None:
        raise ValueError(
            "usage: python -m ocrtrain.data split input=<label file> [ratios=[0.9,0.1]] [seed=0] [output=<folder>] "
            "[overwrite=true]"
        )
    inputs = list(cfg.input) if isinstance(cfg.input, ListConfig) else [cfg.input]
    written = split_label_files(
        inputs,
        cfg.output or Path(inputs[0]).parent,
        list(cfg.ratios),
        int(cfg.seed),
        overwrite=bool(cfg.overwrite),
    )
    for name, path in written.items():
        lines = path.read_text(encoding="utf-8").count("\n")
        print(f"{name}: {lines} lines -> {path}")
    return 0


def _synth(cfg: DictConfig) -> int:
    from ocrtrain.data.synth import SynthOptions, synthesize

    if cfg.input is None or cfg.output is None:
        raise ValueError(
            "usage: python -m ocrtrain.data synth input=<train label file(s)> output=<folder> [root=<data root>] "
            "[synth.count=10000]"
        )
    inputs = list(cfg.input) if isinstance(cfg.input, ListConfig) else [cfg.input]
    opts = SynthOptions(**OmegaConf.to_container(cfg.synth), seed=int(cfg.seed))
    root = cfg.root or Path(inputs[0]).parent
    labels = synthesize(inputs, root, cfg.output, opts, bool(cfg.skip_bad))
    print(f"{opts.count} crops -> {labels} (image paths relative to {Path(root).resolve()})")
    return 0


@hydra.main(version_base="1.3", config_path="../conf", config_name="data")
@user_errors
def main(cfg: DictConfig) -> None:
    handlers = {"check": _check, "convert": _convert, "split": _split, "synth": _synth}
    if cfg.command not in handlers:
        raise ValueError(
            f"usage: python -m ocrtrain.data {'|'.join(COMMANDS)} ...; got command {cfg.command!r}"
        )
    sys.exit(handlers[cfg.command](cfg))


if __name__ == "__main__":
    sys.argv[1:] = with_dataset_template(positional_argv(sys.argv[1:]))
    prepare_command_line("data")
    main()
