"""Checking config numbers once at start-up: ``error: trainer.batch_size: must be a positive integer, got 'abc'``.

A schema is a dataclass whose fields carry a rule (``field(default, rule)``); :func:`validated` builds it from a
config node, or raises :class:`ConfigError` naming the dotted key, what it must be and what it got. Plain mappings
(e.g. an ``optimizer`` node whose keys vary by model) are checked against a ``{key: rule}`` table with
:func:`check_rules`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

Rule = Callable[[Any], bool]
T = TypeVar("T")


class ConfigError(ValueError):
    """A config value of the wrong kind; the message starts with the dotted key."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


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
BOOLEAN = rule("true or false", lambda v: isinstance(v, bool))


def field(default: Any, check: Rule) -> Any:
    """A dataclass field with the rule its config value must pass."""
    return dataclasses.field(default=default, metadata={"rule": check})


def check_value(key: str, value: Any, check: Rule) -> None:
    if not check(value):
        raise ConfigError(f"{key}: must be {check.description}, got {value!r}")  # type: ignore[attr-defined]


def check_rules(node: Mapping[str, Any], rules: Mapping[str, Rule], prefix: str) -> None:
    """Check the keys of ``node`` that ``rules`` names (absent keys keep their defaults)."""
    for key, check in rules.items():
        if key in node:
            check_value(f"{prefix}.{key}", node[key], check)


def validated(schema: type[T], node: Mapping[str, Any], prefix: str) -> T:
    """``schema(**node)`` after checking every value against its field's rule; unknown keys are errors too."""
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    for key in node:
        if key not in fields:
            raise ConfigError(f"{prefix}.{key}: unknown setting (known: {', '.join(fields)})")
    for name, f in fields.items():
        if name in node and "rule" in f.metadata:
            check_value(f"{prefix}.{name}", node[name], f.metadata["rule"])
    return schema(**node)
