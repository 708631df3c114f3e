"""tracking.json: which tracker run an experiment (or sweep) is logged as.

Part of the experiment's state on disk, beside its checkpoints (never in state.pkl): a resume,
even after kill -9, reads it and continues the same run. ``run_key`` is written before the run
is created and set as a tag on it, so a process killed between creating the run and recording
its id finds the run again by that tag instead of creating a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import CorruptFile, read_checked_json, write_checked_json
from evoprompt.checkpoint.schema.fields import (
    JsonDict,
    SchemaError,
    document,
    get,
    opt,
    versioned,
)


@dataclass(frozen=True)
class TrackingRecord:
    """The run of one folder: its key, its id once known, the rollbacks it has seen (a
    rollback starts a new run) and the run it replaced. ``uri``: the tracking URI without
    credentials ("" for the default store under the result folder)."""

    backend: str
    uri: str
    run_key: str
    run_id: str | None = None
    rollbacks: int = 0
    previous_run_id: str | None = None

    @classmethod
    def new(cls, uri: str, rollbacks: int = 0, previous: str | None = None) -> TrackingRecord:
        return cls("mlflow", uri, uuid.uuid4().hex, None, rollbacks, previous)

    def with_run(self, run_id: str) -> TrackingRecord:
        return replace(self, run_id=run_id)

    def to_json(self) -> JsonDict:
        return versioned(
            {
                "backend": self.backend,
                "uri": self.uri,
                "run_key": self.run_key,
                "run_id": self.run_id,
                "rollbacks": self.rollbacks,
                "previous_run_id": self.previous_run_id,
            }
        )

    @classmethod
    def from_json(cls, raw: Any) -> TrackingRecord:
        doc = document(raw, "tracking.json")
        return cls(
            backend=get(doc, "backend", str, "a string"),
            uri=get(doc, "uri", str, "a string"),
            run_key=get(doc, "run_key", str, "a string"),
            run_id=opt(doc, "run_id", str, "a string"),
            rollbacks=int(get(doc, "rollbacks", int, "an integer")),
            previous_run_id=opt(doc, "previous_run_id", str, "a string"),
        )


def read_record(path: Path) -> TrackingRecord | None:
    """The folder's record; None when there is none yet (or it is unreadable: a new run)."""
    if not path.exists():
        return None
    try:
        return TrackingRecord.from_json(read_checked_json(path))
    except (CorruptFile, SchemaError):
        return None


def write_record(path: Path, record: TrackingRecord) -> None:
    write_checked_json(path, record.to_json())
