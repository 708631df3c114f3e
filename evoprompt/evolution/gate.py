"""The child quality gate: an operator's output that is not a plausible instruction is refused.

Small models answer an operator request with one word ("and"), the parent copied back, or a
line of the template itself ("Prompt 1: ..."); such a child would be scored and could enter the
population. The breeder treats a refused child like a reply without ``<prompt>`` tags: it asks
again at the next try's site.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

MIN_WORDS = 3
MIN_SCAFFOLD_CHARS = 12  # shorter template fragments ("Prompt 1:") may occur in real prompts


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]+", " ", text.lower()).split())


def scaffolding(template: str) -> list[str]:
    """The template's own lines (its literal text around the placeholders), normalized."""
    literal = "".join(text for text, _, _, _ in string.Formatter().parse(template))
    pieces = (_normal(line) for line in re.split(r"[\n:]", literal))
    return [p for p in pieces if len(p) >= MIN_SCAFFOLD_CHARS]


def gate(child: str, parents: Iterable[str], template: str) -> str | None:
    """Why ``child`` (bred from ``parents`` by ``template``) is not a plausible instruction,
    or None when it is one."""
    said = _normal(child)
    if len(said.split()) < MIN_WORDS:
        return f"fewer than {MIN_WORDS} words"
    if any(said == _normal(text) for text in parents):
        return "a parent unchanged"
    if any(piece in said for piece in scaffolding(template)):
        return "an echo of the operator template"
    return None
