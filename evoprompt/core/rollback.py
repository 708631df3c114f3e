"""Rollback: the same experiment goes on from the end of an earlier generation.

What came after (checkpoint files of later generations, the results, and unless
``keep_answers`` the answers journaled after that generation) is moved aside into
``checkpoints/rolled_back/<time>/``, never deleted. Two phases make a kill -9 harmless:

1. set aside: links to every file concerned and a full copy of the journal go into a hidden
   folder, with ``rollback.json``; renaming that folder into place is the commit point
   (killed before it: nothing changed; the hidden folder is swept next time);
2. apply: prune the journal, make the snapshot the current state, drop later files, rewrite
   the results, then mark the record ``done``. Every step is idempotent, so a record not yet
   done is simply applied again by the next rollback or resume (:func:`finish_pending`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sqlite3
import time
from pathlib import Path

from evoprompt.checkpoint.atomic import fsync_dir, read_checked_json, write_checked_json
from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.layout import (
    BATCH_PATTERN,
    HISTORY_PATTERN,
    ROLLBACK_MANIFEST,
    SNAPSHOT_PATTERN,
    TEST_BATCH_PATTERN,
    Layout,
)
from evoprompt.checkpoint.schema import INTERRUPTED, RollbackRecord, SchemaError
from evoprompt.core.branching import (
    completed_generation,
    copy_journal,
    link_or_copy,
    renamed,
    resume_from,
    state_at,
)
from evoprompt.core.result import write_results


def _later_files(layout: Layout, generation: int, tests: int) -> list[Path]:
    """Files that belong to generations after ``generation`` (and to held-out test phases
    after the ``tests`` the state at that generation had), and those a rollback rewrites."""
    later = [p for gen, p in layout.history_files() if gen > generation]
    later += [p for gen, p in layout.snapshot_files() if gen > generation]
    later += [p for gen, _, p in layout.batch_files() if gen > generation]
    later += [p for phase, _, p in layout.batch_files(test=True) if phase > tests]
    current = [layout.state, layout.latest, layout.backup]
    current += [layout.summary, layout.generations_csv, layout.population]
    return [p for p in later + current if p.exists()]


def _belongs_after(name: str, generation: int, tests: int) -> bool:
    for pattern in (HISTORY_PATTERN, SNAPSHOT_PATTERN, BATCH_PATTERN):
        match = pattern.match(name)
        if match:
            return int(match.group(1)) > generation
    match = TEST_BATCH_PATTERN.match(name)
    return match is not None and int(match.group(1)) > tests


def _answers_after(journal: Path, cutoff: float) -> int:
    if not journal.exists():
        return 0
    with contextlib.closing(sqlite3.connect(str(journal))) as db:
        return int(
            db.execute("SELECT COUNT(*) FROM responses WHERE created > ?", (cutoff,)).fetchone()[0]
        )


def rollback(exp_dir: Path, generation: int, *, keep_answers: bool = False) -> RollbackRecord:
    """Roll ``exp_dir`` back to the end of ``generation``; the caller holds its lock."""
    finish_pending(exp_dir)
    layout = Layout(exp_dir)
    state, cutoff = state_at(exp_dir, generation)
    done = completed_generation(exp_dir)
    files = _later_files(layout, generation, len(state.tests))
    answers = 0 if keep_answers else _answers_after(layout.journal, cutoff)
    created = time.time()
    name = time.strftime("%Y%m%d_%H%M%S", time.localtime(created)) + f"_g{done}_to_g{generation}"
    aside = layout.rolled_back / name
    n = 2
    while aside.exists():
        aside, n = layout.rolled_back / f"{name}_{n}", n + 1
    moved = [layout.relative(p) for p in files]
    record = RollbackRecord(generation, done, cutoff, keep_answers, moved, answers, created)
    _sweep(layout)
    hidden = layout.rolled_back / f".{aside.name}"
    hidden.mkdir(parents=True)
    for path in files:
        link_or_copy(path, hidden / layout.relative(path))
    if answers:
        copy_journal(layout.journal, hidden / layout.relative(layout.journal))
    write_checked_json(hidden / ROLLBACK_MANIFEST, record.to_json())
    fsync_dir(hidden)
    hidden.rename(aside)  # the commit point
    fsync_dir(layout.rolled_back)
    return _apply(exp_dir, aside, record)


def _sweep(layout: Layout) -> None:
    """Hidden set-aside folders are rollbacks killed before their commit: never applied."""
    if layout.rolled_back.is_dir():
        for leftover in layout.rolled_back.glob(".*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _apply(exp_dir: Path, aside: Path, record: RollbackRecord) -> RollbackRecord:
    """Phase 2; safe to run again from any point (each step is idempotent)."""
    layout = Layout(exp_dir)
    state, _ = state_at(exp_dir, record.to_generation)
    if not record.keep_answers and layout.journal.exists():
        with contextlib.closing(sqlite3.connect(str(layout.journal))) as db, db:
            db.execute("DELETE FROM responses WHERE created > ?", (record.cutoff,))
            db.execute("DELETE FROM failures WHERE created > ?", (record.cutoff,))
    mine = renamed(state, exp_dir.name)
    resume_from(exp_dir, mine)
    for relative in record.files:
        if _belongs_after(Path(relative).name, record.to_generation, len(state.tests)):
            (exp_dir / relative).unlink(missing_ok=True)
    with contextlib.closing(Journal(layout.journal)) as journal:
        write_results(exp_dir, mine, INTERRUPTED.status, journal.stats())
    finished = dataclasses.replace(record, done=True)
    write_checked_json(aside / ROLLBACK_MANIFEST, finished.to_json())
    return finished


def finish_pending(exp_dir: Path) -> list[RollbackRecord]:
    """Complete every rollback that a kill interrupted after its commit point (under the
    experiment's lock: the next rollback and every resume call this first)."""
    finished = []
    for aside in Layout(exp_dir).rollbacks():
        try:
            record = RollbackRecord.from_json(read_checked_json(aside / ROLLBACK_MANIFEST))
        except (OSError, ValueError, SchemaError):
            continue
        if not record.done:
            finished.append(_apply(exp_dir, aside, record))
    return finished
