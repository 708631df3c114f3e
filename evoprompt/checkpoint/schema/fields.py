"""The validation every record shares: typed field access that names what is wrong."""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]


class SchemaError(ValueError):
    """A document that parses as JSON but lacks a field, or has one of the wrong type."""


NUMBER = (int, float)


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
