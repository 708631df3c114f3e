"""A sweep folder, read without disturbing it: its record and a snapshot of every cell.

The cells' own folders say how far each got (the record's statuses are what the driver last
wrote, which a kill -9 may leave stale); a live process holding the sweep's lock means the
sweep is running.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evoprompt.checkpoint.layout import SweepLayout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import SchemaError
from evoprompt.checkpoint.schema.sweep import SweepRecord
from evoprompt.report.experiment import Snapshot, is_experiment, lock_holder, snapshot, when


@dataclass(frozen=True)
class SweepView:
    record: SweepRecord
    holder: str | None
    cells: list[tuple[str, Snapshot | None]]  # (cell id, its snapshot; None before it starts)

    @property
    def finished(self) -> int:
        return sum(snap is not None and snap.status == "finished" for _, snap in self.cells)

    @property
    def status(self) -> str:
        if self.holder is not None:
            return "running"
        return "finished" if self.finished == len(self.cells) else "stopped"


def sweep_view(sweep_dir: Path) -> SweepView | None:
    """The sweep in this folder, or None when it is not a (readable) sweep folder."""
    layout = SweepLayout(sweep_dir)
    try:
        record = SweepRecord.from_json(json.loads(read_text(layout.sweep)))
    except (OSError, ValueError, SchemaError, PathRefused):
        return None
    cells = [
        (cell.id, snapshot(path) if is_experiment(path := layout.cell(cell.id)) else None)
        for cell in record.cells
    ]
    return SweepView(record, lock_holder(sweep_dir), cells)


def list_rows(
    view: SweepView, cell_row: Callable[[Snapshot, str], dict[str, object]]
) -> list[dict[str, object]]:
    """``list``'s rows for a sweep: its progress (cells finished / total), then its cells
    indented (``cell_row`` formats a started one)."""
    head: dict[str, object] = {
        "id": view.record.sweep_id,
        "algorithm": "sweep",
        "status": view.status,
        "generation": f"{view.finished}/{len(view.cells)} cells",
        "best_fitness": "-",
        "last_update": when(view.record.updated),
    }
    rows = [head]
    for cell_id, snap in view.cells:
        pending = {"id": "  " + cell_id, "algorithm": "-", "status": "pending"}
        rows.append(cell_row(snap, "  ") if snap else {**head, **pending})
    return rows
