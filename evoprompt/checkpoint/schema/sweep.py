"""sweep.json: what a sweep is (its grid and the settings every cell shares) and where each
cell stands. Written by the sweep driver, read back by a resumed sweep, ``list`` and
``sweep-report``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from evoprompt.checkpoint.layout import is_safe_id
from evoprompt.checkpoint.schema.fields import (
    NUMBER,
    JsonDict,
    SchemaError,
    as_object,
    document,
    get,
    versioned,
)

# A cell's status as the driver last recorded it (the cell's own folder is the truth about
# its progress; this says what the driver did with it).
CELL_STATUSES = ("pending", "running", "finished", "interrupted", "budget", "error")


@dataclass(frozen=True)
class CellRecord:
    """One grid point of the sweep: its id (= experiment folder), its grid values, status."""

    id: str
    params: JsonDict
    status: str = "pending"

    def to_json(self) -> JsonDict:
        return {"id": self.id, "params": self.params, "status": self.status}

    @classmethod
    def from_json(cls, raw: Any) -> CellRecord:
        doc = as_object(raw, "a cell")
        status = get(doc, "status", str, "a string")
        if status not in CELL_STATUSES:
            raise SchemaError(f"field 'status' is not one of {', '.join(CELL_STATUSES)}")
        cell_id = get(doc, "id", str, "a string")
        if not is_safe_id(cell_id):  # it names a folder: never a path out of the sweep's
            raise SchemaError(f"cell id {cell_id!r} is not a plain folder name")
        return cls(
            id=cell_id,
            params=get(doc, "params", dict, "an object"),
            status=status,
        )


@dataclass(frozen=True)
class SweepRecord:
    """sweep.json. ``defining``: the experiment-defining settings every cell shares (a change
    is refused on resume); ``runtime``: the other shared settings, which may change."""

    sweep_id: str
    file: str
    grid: dict[str, list[Any]]
    defining: JsonDict
    runtime: JsonDict
    cells: list[CellRecord]
    engine: str = "local"
    created: float = 0.0
    updated: float = 0.0
    resume: str = ""

    def to_json(self) -> JsonDict:
        return versioned(
            {
                "sweep_id": self.sweep_id,
                "file": self.file,
                "engine": self.engine,
                "created": self.created,
                "updated": self.updated,
                "resume": self.resume,
                "grid": self.grid,
                "defining": self.defining,
                "runtime": self.runtime,
                "cells": [cell.to_json() for cell in self.cells],
            }
        )

    @classmethod
    def from_json(cls, raw: Any) -> SweepRecord:
        doc = document(raw, "sweep.json")
        grid = get(doc, "grid", dict, "an object")
        return cls(
            sweep_id=get(doc, "sweep_id", str, "a string"),
            file=get(doc, "file", str, "a string"),
            engine=get(doc, "engine", str, "a string"),
            created=float(get(doc, "created", NUMBER, "a number")),
            updated=float(get(doc, "updated", NUMBER, "a number")),
            resume=get(doc, "resume", str, "a string"),
            grid={str(k): list(v) for k, v in grid.items()},
            defining=get(doc, "defining", dict, "an object"),
            runtime=get(doc, "runtime", dict, "an object"),
            cells=[CellRecord.from_json(c) for c in get(doc, "cells", list, "a list")],
        )

    def with_status(self, cell_id: str, status: str, updated: float) -> SweepRecord:
        cells = [CellRecord(c.id, c.params, status) if c.id == cell_id else c for c in self.cells]
        return replace(self, cells=cells, updated=updated)
