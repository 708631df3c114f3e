"""Map a model's free-text answer onto one label, or ``invalid``."""

from __future__ import annotations

import re
from collections.abc import Sequence

INVALID = "invalid"
_PUNCT = re.compile(r"[^\w\s]+")


def _normal(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def verbalize(answer: str, labels: Sequence[str]) -> str:
    """Case- and punctuation-insensitive exact match first, then a label inside the answer.

    When several labels occur in the answer, the one mentioned first wins (ties: the longest,
    so "Buffer Errors" beats "Errors"): models tend to lead with their verdict.
    """
    said = _normal(answer)
    for label in labels:
        if said == _normal(label):
            return label
    hits = []
    for label in labels:
        wanted = _normal(label)
        if not wanted:
            continue
        found = re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", said)
        if found:
            hits.append((found.start(), -len(wanted), label))
    return min(hits)[2] if hits else INVALID
