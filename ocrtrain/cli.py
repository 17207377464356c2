"""Small pieces the command-line entry points share: clean user errors and loading saved pipeline configs."""

from __future__ import annotations

import difflib
import functools
import os
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

import ocrtrain.config  # noqa: F401  (registers the resolvers the entry points' configs use)
from ocrtrain.data.common import LabelError
from ocrtrain.devices import DeviceUnavailableError
from ocrtrain.imageio import ImageError
from ocrtrain.pipeline.model_source import ModelSourceError
from ocrtrain.zoo import ModelNotAvailableError

# errors that are the user's input, not our bug: one clear line, no traceback, exit status 2 (a usage error).
# A run that has started and then meets bad data (a label line, an image) fails with status 1 instead.
DATA_ERRORS: tuple[type[Exception], ...] = (ImageError, LabelError)
USER_ERRORS: tuple[type[Exception], ...] = (
    *DATA_ERRORS,
    ModelSourceError,
    ModelNotAvailableError,
    DeviceUnavailableError,
    FileNotFoundError,
    KeyError,
    ValueError,
)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Report a user error as ``error: <message>`` on stderr and exit with status 2 (OCRTRAIN_DEBUG=1: traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MissingMandatoryValue as e:  # a ``???`` in the config the command line left unset
            if os.environ.get("OCRTRAIN_DEBUG"):
                raise
            print(f"error: {e.full_key} is required: give {e.full_key}=...", file=sys.stderr)
            sys.exit(2)
        except USER_ERRORS as e:
            if os.environ.get("OCRTRAIN_DEBUG"):
                raise
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def exit_on_signals() -> None:
    """Until a trainer takes over, Ctrl-C and SIGTERM end the process at once with status 128 + signal."""

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def run_failed(error: Exception) -> None:
    """A started run met bad data: ``error: <file:line: reason>`` on stderr and exit status 1."""
    if os.environ.get("OCRTRAIN_DEBUG"):
        raise error
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)


def check_overrides(argv: list[str]) -> None:
    """Before Hydra parses the command line: an argument it cannot read (a path with spaces the shell split, or a
    character Hydra's grammar reserves) gets one line saying how to quote it, instead of a lexer exception."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    previous = ""
    for arg in argv:
        if arg.startswith("-") or previous.startswith("-"):  # Hydra's own flags (-m, --cfg job, -cn name ...)
            previous = arg
            continue
        key, equals, value = arg.partition("=")
        if not equals and not arg.startswith("~"):  # ~key deletes a config key: no value needed
            pkey, _, pvalue = previous.partition("=")
            example = f'{pkey}="{pvalue} {arg}"' if pvalue else f'input="/my photos/{arg}"'
            print(
                f"error: {arg!r} is not key=value: a path with spaces needs quotes the shell and Hydra both see, "
                f"e.g. {shlex.quote(example)}",
                file=sys.stderr,
            )
            sys.exit(2)
        try:
            parser.parse_override(arg)
        except Exception as e:
            quoted = value.replace("\\", "\\\\").replace('"', '\\"')
            suggestion = shlex.quote(f'{key}="{quoted}"')
            reason = str(e).splitlines()[0]
            print(
                f"error: {arg}: Hydra cannot read this value ({reason}); quote it for Hydra inside shell "
                f"quotes: {suggestion}",
                file=sys.stderr,
            )
            sys.exit(2)
        previous = arg


# the top-level sections of a PaddleOCR training config, whose keys users bring from tools/train.py -o
PADDLEOCR_SECTIONS = ("Global", "Architecture", "Optimizer", "Train", "Eval", "Loss", "PostProcess", "Metric")


def check_keys(config_name: str, argv: list[str]) -> None:
    """A ``key=value`` whose key the entrypoint's config does not have (a typo: ``trainer.batch_sz=4``) is one line
    naming it and the closest key, exit status 2, instead of Hydra's "not in struct" report. Composing the config
    costs ~0.1 s. A config option that does not exist (``rec=PP-OCRv4_mobile_recc``) is one line naming the closest
    too; anything else Hydra refuses (a sweep outside ``-m``) is left to it."""
    from hydra.errors import ConfigCompositionException, MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from ocrtrain.config import compose

    overrides = [a for a in argv if not a.startswith("-") and ("=" in a or a.startswith("~"))]
    keys = [o.lstrip("+~").partition("=")[0] for o in overrides]
    try:
        compose(config_name, overrides)
        return
    except MissingConfigException as e:
        group, _, name = str(e.missing_cfg_file or "").rpartition("/")
        if not group or not e.options:
            return
        close = difflib.get_close_matches(name, e.options, n=1)
        hint = f"did you mean {group}={close[0]}?" if close else f"one of {', '.join(e.options)}"
        print(f"error: {group}={name}: no such {group} config ({hint})", file=sys.stderr)
        sys.exit(2)
    except ConfigCompositionException as e:
        cause = e.__cause__
        if not isinstance(cause, (ConfigAttributeError, ConfigKeyError)) or not cause.full_key:
            return
        missing = str(cause.full_key)  # the first part of the key the config lacks
    given = next((k for k in keys if k == missing or k.startswith(missing + ".")), missing)
    try:  # the config without that override, to find the keys it meant
        node = compose(config_name, [o for o, k in zip(overrides, keys, strict=True) if k != given])
    except ConfigCompositionException:
        node = None
    parent, _, part = missing.rpartition(".")
    node = OmegaConf.select(node, parent) if node is not None and parent else node
    close = (
        difflib.get_close_matches(part, [str(k) for k in node], n=1) if isinstance(node, DictConfig) else []
    )
    meant = ".".join(filter(None, [parent, close[0], given[len(missing) + 1 :]])) if close else None
    hint = f"did you mean {meant}?" if meant else f"{missing} is not in the {config_name} config"
    if given.split(".")[0] in PADDLEOCR_SECTIONS:
        hint += "; a PaddleOCR config key: python -m ocrtrain.from_paddleocr -c <config.yml> prints ocrtrain's command"
    print(f"error: {given}: unknown setting ({hint})", file=sys.stderr)
    sys.exit(2)


def comma_values(argv: list[str], lists: tuple[str, ...] = ()) -> list[str]:
    """Hydra reads an unquoted comma list (``device=gpu:0,1``) as a sweep and refuses it outside ``-m``: ``device=``
    is passed on as one string, and each key in ``lists`` (export's ``format=paddle,onnx``) as a list. A bracketed
    or quoted value stays as given."""
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if "," in value and not value.startswith(("[", '"', "'")):
            if key == "device":
                arg = f'{key}="{value}"'
            elif key in lists:
                arg = f"{key}=[{value}]"
        out.append(arg)
    return out


def pipeline_file_argv(argv: list[str]) -> list[str]:
    """Hydra's ``pipeline=<option>`` takes a name from conf/pipeline; a path to a saved YAML is passed on instead."""
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "pipeline" and value.endswith((".yaml", ".yml")) and Path(value).is_file():
            out.append(f"+pipeline_file={Path(value).resolve()}")
        else:
            out.append(arg)
    return out


def prepare_command_line(config_name: str, lists: tuple[str, ...] = (), saved_pipeline: bool = False) -> None:
    """What every entrypoint does to ``sys.argv`` before Hydra parses it: a saved pipeline file
    (``pipeline=my_ocr.yaml``, with ``saved_pipeline``) passed on as a file, the syntax checked, device lists and the
    ``lists`` keys read as one value, then the keys checked against the ``config_name`` config."""
    argv = pipeline_file_argv(sys.argv[1:]) if saved_pipeline else sys.argv[1:]
    check_overrides(argv)
    argv = comma_values(argv, lists)
    check_keys(config_name, argv)
    sys.argv[1:] = argv


def load_saved_pipeline(cfg: DictConfig) -> DictConfig:
    """``cfg.pipeline``, or a saved pipeline file (``pipeline=my_ocr.yaml``) under the command line's
    ``pipeline.*`` values, with the entrypoint's shortcuts (``device=``, ``backend=``, ``det_model=``, ``rec_model=``)
    over both; checked by ``load_pipeline_config``."""
    from hydra.core.hydra_config import HydraConfig

    from ocrtrain.pipeline import load_pipeline_config
    from ocrtrain.pipeline.ocr import SHORTCUTS

    shortcuts = {key: cfg[key] for key in SHORTCUTS if cfg[key] is not None}
    if not cfg.get("pipeline_file"):
        return load_pipeline_config(cfg.pipeline, **shortcuts)
    command_line = [o for o in HydraConfig.get().overrides.task if o.startswith("pipeline.")]
    given = OmegaConf.to_container(
        OmegaConf.from_dotlist([o.removeprefix("pipeline.") for o in command_line])
    )
    return load_pipeline_config(cfg.pipeline_file, **{**given, **shortcuts})
