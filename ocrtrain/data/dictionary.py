"""Recognition dictionaries: characters <-> CTC classes, their hash, and the report that catches mismatches early.

Class 0 is the CTC blank; character ``k`` of the dictionary is class ``k + 1``. The pretrained PP-OCRv4 recogniser
uses ``ppocr_keys_v1.txt`` (6,623 characters) plus the space: 6,625 classes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ocrtrain.data.common import LabelError, text_lines


@dataclass(frozen=True)
class CharDict:
    characters: tuple[str, ...]

    @classmethod
    def from_file(cls, path: str | Path) -> CharDict:
        """One character per line (UTF-8, BOM and CRLF tolerated), plus the space as the last class when the file
        lacks it (PaddleOCR's ``use_space_char``); duplicates are an error naming the lines."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"dictionary file not found: {path}")
        chars: list[str] = []
        first_line: dict[str, int] = {}
        for line_no, char in text_lines(path):
            if char == "":
                continue
            if char in first_line:
                raise LabelError(
                    path, line_no, f"duplicate character {char!r} (first on line {first_line[char]})"
                )
            first_line[char] = line_no
            chars.append(char)
        if " " not in first_line:
            chars.append(" ")
        return cls(tuple(chars))

    @classmethod
    def pretrained(cls, model: str = "PP-OCRv4_mobile_rec") -> CharDict:
        """The dictionary of the zoo recogniser ``model``."""
        from ocrtrain.zoo import zoo_dictionary_path

        return cls.from_file(zoo_dictionary_path(model))

    @property
    def num_classes(self) -> int:
        return len(self.characters) + 1  # + CTC blank

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\n".join(self.characters).encode("utf-8")).hexdigest()

    def encode(self, text: str) -> list[int]:
        """Class ids of ``text``; characters not in the dictionary are dropped (the report lists them)."""
        index = self._index
        return [index[c] for c in text if c in index]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {c: i + 1 for i, c in enumerate(self.characters)}


@dataclass
class DictionaryReport:
    """What a dictionary does to a set of labels, before training starts."""

    total: int = 0
    missing: Counter = field(default_factory=Counter)  # character -> occurrences
    missing_examples: dict[str, str] = field(default_factory=dict)  # character -> first "file:line"
    too_long: list[str] = field(default_factory=list)  # "file:line" of labels over max_text_length
    dropped: list[str] = field(default_factory=list)  # "file:line" of labels that cannot be trained on

    @property
    def clean(self) -> bool:
        return not (self.missing or self.too_long or self.dropped)

    def summary(self, limit: int = 10) -> str:
        lines = [f"dictionary report over {self.total} labels:"]
        if self.missing:
            lines.append(f"  {len(self.missing)} characters not in the dictionary (removed from labels):")
            for char, count in self.missing.most_common(limit):
                lines.append(f"    {char!r} x{count}, e.g. {self.missing_examples[char]}")
        if self.too_long:
            lines.append(
                f"  {len(self.too_long)} labels longer than max_text_length, e.g. {self.too_long[:3]}"
            )
        if self.dropped:
            lines.append(
                f"  {len(self.dropped)} labels dropped (empty after removal, or too long), e.g. {self.dropped[:3]}"
            )
        if self.clean:
            lines.append("  every label is fully covered")
        return "\n".join(lines)


def dictionary_report(
    labels: list[tuple[str, str]], char_dict: CharDict, max_text_length: int = 25, strict: bool = False
) -> DictionaryReport:
    """Check (text, "file:line") labels against ``char_dict``; ``strict`` turns any finding into an error."""
    known = set(char_dict.characters)
    report = DictionaryReport(total=len(labels))
    for text, source in labels:
        unknown = [c for c in text if c not in known]
        for char in unknown:
            report.missing[char] += 1
            report.missing_examples.setdefault(char, f"{source} {text!r}")
        kept = len(text) - len(unknown)
        if kept > max_text_length:
            report.too_long.append(source)
        if kept == 0 or kept > max_text_length:
            report.dropped.append(source)
    if strict and not report.clean:
        raise ValueError(f"data.strict=true and the labels do not fit the dictionary:\n{report.summary()}")
    return report
