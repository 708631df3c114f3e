"""The child quality gate: an operator's output that is not a plausible instruction is refused.

Small models answer an operator request with one word ("and"), the parent copied back, a
line of the template itself ("Prompt 1: ...") or one of the template's worked examples
("Transform the provided text into simpler language, ..." from GA's); such a child would be
scored and could enter the population. The breeder treats a refused child like a reply without
``<prompt>`` tags: it asks again at the next try's site.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

MIN_WORDS = 3
MIN_SCAFFOLD_CHARS = 12  # shorter template fragments ("Prompt 1:") may occur in real prompts


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]+", " ", text.lower()).split())


def _literal(template: str) -> str:
    """The template's own text, around its placeholders."""
    return "".join(text for text, _, _, _ in string.Formatter().parse(template))


def scaffolding(template: str) -> list[str]:
    """The template's own lines and the answers of its examples (between ``<prompt>`` tags),
    normalized."""
    pieces = (_normal(line) for line in re.split(r"[\n:]|</?prompt>", _literal(template)))
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
    if f" {said} " in f" {_normal(_literal(template))} ":  # an example's text, or part of one
        return "an echo of the operator template"
    return None
