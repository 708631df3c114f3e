"""Text normalisation shared by the reference metrics (exact match, F1, contains).

SQuAD-style (case, punctuation, articles, whitespace), made Unicode-aware (NFKC, casefold, any
script's letters and digits count as word characters) and number-aware: ``1,000``, ``1000``,
``1000.0`` and ``1e3``-free decimals like ``0.50`` all read as one canonical number, and a
leading minus sign survives the punctuation stripping.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

ARTICLES = frozenset({"a", "an", "the"})
# a number (thousands grouped with commas, or not; a decimal part; a sign not glued to a word)
# or else a run of word characters
_TOKEN = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])|[^\W_]+")
_NUMBER = re.compile(r"-?[\d,]*\d(?:\.\d+)?")


def canonical_number(text: str) -> str:
    """``1,000.50`` -> ``1000.5``; ``-0.0`` -> ``0``; anything else unchanged."""
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return text
    if value == 0:
        return "0"
    shown = format(value.normalize(), "f")
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``: no punctuation, no articles, canonical numbers."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    found = []
    for token in _TOKEN.findall(folded):
        if token in ARTICLES:
            continue
        found.append(canonical_number(token) if _NUMBER.fullmatch(token) else token)
    return found


def normalize(text: str) -> str:
    """``text`` as one normalised string (its tokens joined by single spaces)."""
    return " ".join(tokens(text))


def as_number(text: str) -> str | None:
    """The canonical number ``text`` is, once normalised, or None when it is not one number."""
    found = tokens(text)
    if len(found) == 1 and _NUMBER.fullmatch(found[0]):
        return found[0]
    return None


def last_number(text: str) -> str | None:
    """The canonical form of the last number in ``text`` (None when it has none)."""
    numbers = [t for t in tokens(text) if _NUMBER.fullmatch(t)]
    return numbers[-1] if numbers else None
