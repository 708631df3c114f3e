"""Where an experiment came from and what a rollback set aside.

A fork's ``config.json`` carries its :class:`Lineage` beside the config keys (``parent``,
``forked_at``, ``changed``); a rollback leaves a :class:`RollbackRecord` (``rollback.json``) in
the folder that holds what it moved aside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evoprompt.checkpoint.schema.fields import (
    FORMAT_FIELD,
    NUMBER,
    JsonDict,
    document,
    get,
    opt,
    versioned,
)

LINEAGE_KEYS = ("parent", "forked_at", "changed", "inherited")


def config_fields(stored: JsonDict) -> JsonDict:
    """A stored config.json without its lineage keys and format: what the config resolver
    accepts."""
    return {k: v for k, v in stored.items() if k not in LINEAGE_KEYS and k != FORMAT_FIELD}


@dataclass(frozen=True)
class Lineage:
    """The experiment a fork started from, the generation it started at, what it changed,
    and the api_stats of the journal it copied (the parent's spend, which the fork's own
    statistics leave out; empty for a fork made before it was recorded)."""

    parent: str
    forked_at: int
    changed: JsonDict = field(default_factory=dict)
    inherited: JsonDict = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        doc = {"parent": self.parent, "forked_at": self.forked_at, "changed": self.changed}
        return {**doc, "inherited": self.inherited} if self.inherited else doc

    @classmethod
    def of_config(cls, stored: Any) -> Lineage | None:
        """The lineage a config.json records, or None for an experiment that is no fork."""
        if not isinstance(stored, dict) or "parent" not in document(stored, "config.json"):
            return None
        return cls(
            parent=str(get(stored, "parent", str, "a string")),
            forked_at=int(get(stored, "forked_at", int, "an integer")),
            changed=dict(get(stored, "changed", dict, "an object")),
            inherited=dict(opt(stored, "inherited", dict, "an object") or {}),
        )

    def describe(self) -> str:
        changed = ", ".join(f"{k}={v!r}" for k, v in self.changed.items()) or "nothing"
        return f"forked from {self.parent} at generation {self.forked_at}; changed: {changed}"


@dataclass(frozen=True)
class RollbackRecord:
    """One rollback: from which generation to which, what it moved aside, and whether it is
    complete (``done`` is written last; a record without it is finished by the next resume)."""

    to_generation: int
    from_generation: int
    cutoff: float  # answers journaled after this moment came after ``to_generation``
    keep_answers: bool
    files: list[str]  # relative to the experiment folder, as moved aside
    answers: int  # journaled answers set aside (0 with keep_answers)
    created: float
    done: bool = False

    def to_json(self) -> JsonDict:
        return versioned(
            {
                "to_generation": self.to_generation,
                "from_generation": self.from_generation,
                "cutoff": self.cutoff,
                "keep_answers": self.keep_answers,
                "files": self.files,
                "answers": self.answers,
                "created": self.created,
                "done": self.done,
            }
        )

    @classmethod
    def from_json(cls, raw: Any) -> RollbackRecord:
        doc = document(raw, "rollback.json")
        return cls(
            to_generation=int(get(doc, "to_generation", int, "an integer")),
            from_generation=int(get(doc, "from_generation", int, "an integer")),
            cutoff=float(get(doc, "cutoff", NUMBER, "a number")),
            keep_answers=bool(get(doc, "keep_answers", bool, "true or false")),
            files=[str(f) for f in get(doc, "files", list, "a list")],
            answers=int(get(doc, "answers", int, "an integer")),
            created=float(get(doc, "created", NUMBER, "a number")),
            done=bool(get(doc, "done", bool, "true or false")),
        )
