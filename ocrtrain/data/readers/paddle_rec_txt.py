"""PaddleOCR recognition labels: ``<image path relative to the data root><TAB><text>`` per line (PPOCRLabel's
``rec_gt.txt`` too); the text may contain spaces but no tab."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ocrtrain.components import register
from ocrtrain.data.common import LabelError
from ocrtrain.data.readers.base import RecSample, TextLabelReader, looks_like_det, tab_payloads


@register("label_reader", "paddle_rec_txt")
class PaddleRecTxt(TextLabelReader):
    kind = "rec"

    @classmethod
    def matches(cls, path: Path) -> bool:
        if not path.is_file():
            return False
        votes = Counter(looks_like_det(p) for p in tab_payloads(path))
        return votes[False] >= votes[True]  # a file without tabs reads as rec, failing line by line

    def parse(self, line: str, line_no: int) -> RecSample:
        file = str(self.path)
        tabs = line.count("\t")
        if tabs != 1:
            reason = (
                "missing tab between image path and text"
                if tabs == 0
                else f"{tabs} tabs; expected exactly one"
            )
            raise LabelError(file, line_no, reason)
        rel, text = line.split("\t")
        if not rel.strip():
            raise LabelError(file, line_no, "empty image path")
        if text == "":
            raise LabelError(file, line_no, "empty text")
        return RecSample(self.root / rel, text, file, line_no)
