"""What happened to an experiment beyond its own run: the experiment it was forked from, the
forks made from it, and the rollbacks it went through (read-only)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from evoprompt.checkpoint.atomic import CorruptFile, read_checked_json
from evoprompt.checkpoint.layout import ROLLBACK_MANIFEST, Layout
from evoprompt.checkpoint.nofollow import PathRefused, is_real_dir
from evoprompt.checkpoint.schema import Lineage, RollbackRecord, SchemaError
from evoprompt.report.experiment import Snapshot
from evoprompt.runner.stored import read_doc


def lineage_of(snap: Snapshot) -> Lineage | None:
    """Where a fork came from (config.json's parent, forked_at, changed), or None."""
    try:
        return Lineage.of_config(snap.config)
    except SchemaError as exc:
        snap.notes.append(f"config.json has an unusable lineage ({exc})")
        return None


def forks_of(exp_dir: Path) -> list[tuple[str, int]]:
    """(id, generation) of every experiment beside this one that was forked from it."""
    found = []
    for other in sorted(exp_dir.parent.iterdir()):
        if other == exp_dir or not is_real_dir(other):
            continue
        with contextlib.suppress(OSError, ValueError, SchemaError, PathRefused):
            lineage = Lineage.of_config(read_doc(other))
            if lineage is not None and lineage.parent == exp_dir.name:
                found.append((other.name, lineage.forked_at))
    return found


def rollbacks(exp_dir: Path) -> list[tuple[str, RollbackRecord | None]]:
    """Every rollback's folder name and record (None when unreadable), oldest first."""
    layout = Layout(exp_dir)
    found: list[tuple[str, RollbackRecord | None]] = []
    for aside in layout.rollbacks():
        record = None
        with contextlib.suppress(CorruptFile, SchemaError):
            record = RollbackRecord.from_json(read_checked_json(aside / ROLLBACK_MANIFEST))
        found.append((layout.relative(aside), record))
    return found


def describe_rollback(name: str, record: RollbackRecord | None) -> str:
    if record is None:
        return f"{name} (rollback.json unreadable)"
    pending = "" if record.done else "; not complete: the next resume completes it"
    return (
        f"{name} (generation {record.from_generation} -> {record.to_generation}, "
        f"{len(record.files)} files, {record.answers} answers set aside{pending})"
    )
