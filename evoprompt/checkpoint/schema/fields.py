"""The validation every record shares: typed field access that names what is wrong, and the
format version every JSON document on disk carries."""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]


class SchemaError(ValueError):
    """A document that parses as JSON but lacks a field, or has one of the wrong type."""


NUMBER = (int, float)

# The format of the JSON documents this evoprompt writes (``"format"``, their first field).
# Raise it when a document changes shape so that an older reader would misread it, and teach
# the readers the old shape: every format up to this one must still load. Documents written
# before the field existed are format 1 (tests/fixtures/format_v1 keeps some).
FORMAT = 1
FORMAT_FIELD = "format"


class NewerFormat(Exception):
    """A document written by a newer evoprompt. Not a SchemaError (nor a ValueError): a file
    this version cannot read is not damaged, so no reader may treat it as corrupt, fall back
    past it or write over it; the command stops with this one line (exit 2)."""

    def __init__(self, what: str, found: int):
        super().__init__(
            f"{what} was written by a newer evoprompt (format {found}; this one reads up to "
            f"{FORMAT}): upgrade evoprompt to open it; nothing was "
            "changed"
        )


def versioned(doc: JsonDict) -> JsonDict:
    """``doc`` as written to disk: the format first, then its fields."""
    return {FORMAT_FIELD: FORMAT, **{k: v for k, v in doc.items() if k != FORMAT_FIELD}}


def get(doc: JsonDict, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = doc.get(key)
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        value = None  # JSON true is not a number here
    if not isinstance(value, kind):
        raise SchemaError(f"field '{key}' is missing or not {what}")
    return value


def opt(doc: JsonDict, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    return None if doc.get(key) is None else get(doc, key, kind, what)


def as_object(doc: Any, what: str) -> JsonDict:
    if not isinstance(doc, dict):
        raise SchemaError(f"{what} is not a JSON object")
    return doc


def document(raw: Any, what: str) -> JsonDict:
    """A whole document read from disk: a JSON object of a format this version reads.
    NewerFormat for a later one; a missing format is format 1 (written before the field)."""
    doc = as_object(raw, what)
    found = doc.get(FORMAT_FIELD, 1)
    if type(found) is not int or found < 1:
        raise SchemaError(f"field '{FORMAT_FIELD}' is not a positive integer")
    if found > FORMAT:
        raise NewerFormat(what, found)
    return doc
