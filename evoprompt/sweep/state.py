"""sweep.json: written when a sweep starts and whenever a cell changes state (atomically, so a
kill -9 leaves the old or the new version), and the resume guard that compares a rerun's sweep
file with the recorded one.

A rerun may change runtime knobs (concurrency, retries, budgets, ``max_generations``...); a
different grid or experiment-defining base setting is refused, naming each change.
"""

from __future__ import annotations

import json
import time
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.checkpoint.layout import SweepLayout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import SchemaError
from evoprompt.checkpoint.schema.sweep import CellRecord, SweepRecord
from evoprompt.config import GUARDED, Config
from evoprompt.sweep.spec import SweepSpec


class SweepError(Exception):
    """Bad input detected before any cell runs: one line for the user."""


def new_record(
    spec: SweepSpec, sweep_id: str, base: Config, engine: str, resume: str
) -> SweepRecord:
    values = base.to_dict()
    now = time.time()
    return SweepRecord(
        sweep_id=sweep_id,
        file=str(spec.path),
        grid=spec.grid,
        defining={k: values[k] for k in GUARDED if k not in spec.grid},
        runtime={k: v for k, v in values.items() if k not in GUARDED and k not in spec.grid},
        cells=[CellRecord(cell.id, cell.params) for cell in spec.cells()],
        engine=engine,
        created=now,
        updated=now,
        resume=resume,
    )


def read_record(sweep_dir: Path) -> SweepRecord:
    """sweep.json; SweepError naming it and what to do when it is unreadable (its cells'
    folders are intact: moved aside, ``--sweep-id`` rebuilds it and resumes them)."""
    path = SweepLayout(sweep_dir).sweep
    try:
        return SweepRecord.from_json(json.loads(read_text(path)))
    except (OSError, ValueError, SchemaError, PathRefused) as exc:
        raise SweepError(
            f"{path} is unreadable ({exc}); nothing was changed. Its cells are intact: move "
            f"it aside (mv {path} {path}.bad) and pass --sweep-id {sweep_dir.name} to resume "
            "them under this sweep file, or pass --fresh to start a new sweep"
        ) from None


def save_record(sweep_dir: Path, record: SweepRecord) -> None:
    text = json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n"
    atomic_write_text(SweepLayout(sweep_dir).sweep, text)


def changes(stored: SweepRecord, now: SweepRecord) -> list[str]:
    """What differs in what defines the sweep: the grid and the defining base settings."""
    found = []
    for key in dict.fromkeys([*stored.grid, *now.grid]):
        before, after = stored.grid.get(key), now.grid.get(key)
        if before != after:
            found.append(f"grid.{key} (sweep: {_shown(before)}, now: {_shown(after)})")
    for key in dict.fromkeys([*stored.defining, *now.defining]):
        before, after = stored.defining.get(key), now.defining.get(key)
        if key not in stored.defining and after == _DEFAULTS.get(key, MISSING):
            continue  # a setting newer than the sweep, at its default: what the sweep ran with
        if before != after:
            found.append(f"{key} (sweep: {before!r}, now: {after!r})")
    return found


# Each setting's default: a sweep started before a setting existed ran with it.
_DEFAULTS: dict[str, Any] = {f.name: getattr(Config(), f.name) for f in fields(Config)}


def _shown(values: list[Any] | None) -> str:
    return "not in the grid" if values is None else json.dumps(values)


def merge(stored: SweepRecord, now: SweepRecord) -> SweepRecord:
    """The record a resumed sweep goes on with: the stored one (its cells' statuses, its
    creation time), refusing defining changes, with the runtime settings of now.

    The cells and their settings come from the sweep file (``now``), never from sweep.json:
    a cell edited there (a ``python:`` metric, a base URL) would otherwise run unasked."""
    differing = changes(stored, now)
    if differing:
        raise SweepError(
            f"cannot resume sweep {stored.sweep_id}: the sweep file changed: "
            + "; ".join(differing)
            + ". Undo those changes to resume it, or pass --fresh to start a new sweep."
        )
    status = {cell.id: cell.status for cell in stored.cells}
    return SweepRecord(
        sweep_id=stored.sweep_id,
        file=now.file,
        grid=stored.grid,
        defining=stored.defining,
        runtime=now.runtime,
        cells=[replace(cell, status=status.get(cell.id, cell.status)) for cell in now.cells],
        engine=now.engine,
        created=stored.created,
        updated=time.time(),
        resume=now.resume,
    )


def newest_unfinished(root: Path, file: Path) -> str | None:
    """The most recently updated sweep of this sweep file with a cell not finished.

    An unreadable sweep.json is refused (SweepError), not skipped: it may be this file's
    sweep, and skipping it would start a new sweep that pays for every cell again."""
    best: tuple[float, str] | None = None
    for path in sorted(root.glob("*/sweep.json")):
        record = read_record(path.parent)
        if Path(record.file).resolve() != file.resolve():
            continue
        if all(cell.status == "finished" for cell in record.cells):
            continue
        if best is None or record.updated > best[0]:
            best = (record.updated, record.sweep_id)
    return None if best is None else best[1]
