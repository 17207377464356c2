"""Checking config numbers once at start-up: ``error: trainer.batch_size: must be a positive integer, got 'abc'``.

A schema is a dataclass whose fields carry a rule (``field(default, rule)``); :func:`validated` builds it from a
config node, or raises :class:`ConfigError` naming the dotted key, what it must be and what it got. Plain mappings
(e.g. an ``optimizer`` node whose keys vary by model) are checked against a ``{key: rule}`` table with
:func:`check_rules`, and their keys with :func:`check_known`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

Rule = Callable[[Any], bool]
T = TypeVar("T")


class ConfigError(ValueError):
    """A config value of the wrong kind, or an unknown key; the message starts with the dotted key (``key``, where
    known), or with the file and line that set it."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and bool(str(value).strip())


def rule(description: str, test: Callable[[Any], bool], nullable: bool = False) -> Rule:
    """A check with the words the error uses: ``must be <description>``; ``nullable`` also admits null."""

    def check(value: Any) -> bool:
        return (nullable and value is None) or test(value)

    check.description = description + (" or null" if nullable else "")  # type: ignore[attr-defined]
    return check


POSITIVE_INT = rule("a positive integer", lambda v: _is_int(v) and v > 0)
POSITIVE_INT_OR_NULL = rule("a positive integer", lambda v: _is_int(v) and v > 0, nullable=True)
NON_NEGATIVE_INT = rule("an integer >= 0", lambda v: _is_int(v) and v >= 0)
NON_NEGATIVE_NUMBER = rule("a number >= 0", lambda v: _is_number(v) and v >= 0)
POSITIVE_NUMBER = rule("a number > 0", lambda v: _is_number(v) and v > 0)
POSITIVE_NUMBER_OR_NULL = rule("a number > 0", lambda v: _is_number(v) and v > 0, nullable=True)
FRACTION_BELOW_ONE = rule("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1)
FRACTION_BELOW_ONE_OR_NULL = rule("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1, nullable=True)
UNIT_INTERVAL = rule("a number in [0, 1]", lambda v: _is_number(v) and 0 <= v <= 1)
UNIT_INTERVAL_OR_NULL = rule("a number in [0, 1]", lambda v: _is_number(v) and 0 <= v <= 1, nullable=True)
BOOLEAN = rule("true or false", lambda v: isinstance(v, bool))
BOOLEAN_OR_NULL = rule("true or false", lambda v: isinstance(v, bool), nullable=True)
TEXT = rule("a non-empty string", _is_text)
TEXT_OR_NULL = rule("a non-empty string", _is_text, nullable=True)


def one_of(choices: Collection[str], nullable: bool = False) -> Rule:
    """A rule admitting only ``choices`` (and null when ``nullable``)."""
    return rule(f"one of {', '.join(choices)}", lambda v: v in choices, nullable)


def field(default: Any, check: Rule) -> Any:
    """A dataclass field with the rule its config value must pass."""
    return dataclasses.field(default=default, metadata={"rule": check})


def _dotted(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def check_value(key: str, value: Any, check: Rule) -> None:
    if not check(value):
        raise ConfigError(f"{key}: must be {check.description}, got {value!r}", key)  # type: ignore[attr-defined]


def check_rules(node: Mapping[str, Any], rules: Mapping[str, Rule], prefix: str) -> None:
    """Check the keys of ``node`` that ``rules`` names (absent keys keep their defaults)."""
    for key, check in rules.items():
        if key in node:
            check_value(_dotted(prefix, key), node[key], check)


def check_known(node: Mapping[str, Any], known: Collection[str], prefix: str) -> None:
    """Every key of ``node`` is one of ``known``; a typo is named with the closest known key."""
    for key in node:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"did you mean {_dotted(prefix, close[0])}?" if close else f"known: {', '.join(known)}"
            dotted = _dotted(prefix, str(key))
            raise ConfigError(f"{dotted}: unknown setting ({hint})", dotted)


def validated(schema: type[T], node: Mapping[str, Any], prefix: str) -> T:
    """``schema(**node)`` after checking every value against its field's rule; unknown keys are errors too."""
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    check_known(node, fields, prefix)
    check_rules(
        node, {name: f.metadata["rule"] for name, f in fields.items() if "rule" in f.metadata}, prefix
    )
    return schema(**node)


def in_yaml_file(path: Path, error: ConfigError) -> ConfigError:
    """``error`` as ``<path>:<line>: <key>: ...``, at the line where the YAML file sets its dotted key (just
    ``<path>: ...`` where the file does not set it)."""
    node: Any = yaml.compose(path.read_text(encoding="utf-8"))
    line = None
    for part in (error.key or "").split("."):
        pairs = node.value if isinstance(node, yaml.MappingNode) else []
        key_node, node = next(((k, v) for k, v in pairs if k.value == part), (None, None))
        if key_node is None:
            line = None
            break
        line = key_node.start_mark.line + 1
    where = f"{path}:{line}" if line else str(path)
    return ConfigError(f"{where}: {error}", error.key)
