"""Rollback: the same experiment goes on from the end of an earlier generation.

What came after (checkpoint files of later generations, the results, and unless
``keep_answers`` the answers journaled after that generation) is moved aside into
``checkpoints/rolled_back/<time>/``, never deleted. Two phases make a kill -9 harmless:

1. set aside: links to every file concerned and a full copy of the journal go into a hidden
   folder, with ``rollback.json``; renaming that folder into place is the commit point
   (killed before it: nothing changed; the hidden folder is swept next time);
2. apply: prune the journal, make the snapshot the current state, drop later files, rewrite
   the results, then mark the record ``done``. Every step is idempotent, so a record not yet
   done is simply applied again by the next rollback or resume (:func:`finish_pending`), when
   it is signed by this user's key (or with ``--trust-folder``).

A record on disk is data, never trusted: :func:`~evoprompt.branching.rollback_check.check_record`
must pass before it is applied (no record, forged or garbled, deletes an outside file or a
paid answer).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sqlite3
import time
from pathlib import Path

from evoprompt.branching.rollback_check import (
    UnsignedRecord,
    check_record,
    record_signed,
    write_record,
)
from evoprompt.branching.snapshot import (
    completed_generation,
    copy_journal,
    renamed,
    resume_from,
    state_at,
)
from evoprompt.checkpoint.atomic import CorruptFile, fsync_dir, read_checked_json
from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.layout import (
    BATCH_PATTERN,
    HISTORY_PATTERN,
    JOURNAL,
    ROLLBACK_MANIFEST,
    SNAPSHOT_PATTERN,
    TEST_BATCH_PATTERN,
    Layout,
)
from evoprompt.checkpoint.nofollow import (
    confine_to,
    is_real_dir,
    link_or_copy,
    make_dirs,
    refuse_database_links,
    refuse_links,
    remove,
    remove_tree,
    rename,
)
from evoprompt.checkpoint.schema import INTERRUPTED, RollbackRecord, SchemaError
from evoprompt.core.result import write_results

# ``<time>_g<from>_to_g<to>[_n]``: the folders :func:`rollback` names (hidden while set aside).
ASIDE_NAME = re.compile(r"^\d{8}_\d{6}_g-?\d+_to_g\d+(_\d+)?$")


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
    refuse_database_links(journal)
    with contextlib.closing(sqlite3.connect(str(journal))) as db:
        return int(
            db.execute("SELECT COUNT(*) FROM responses WHERE created > ?", (cutoff,)).fetchone()[0]
        )


def rollback(exp_dir: Path, generation: int, *, keep_answers: bool = False) -> RollbackRecord:
    """Roll ``exp_dir`` back to the end of ``generation``; the caller holds its lock."""
    confine_to(exp_dir.parent)
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
    while os.path.lexists(aside):
        aside, n = layout.rolled_back / f"{name}_{n}", n + 1
    moved = [layout.relative(p) for p in files]
    record = RollbackRecord(generation, done, cutoff, keep_answers, moved, answers, created)
    _sweep(layout)
    hidden = layout.rolled_back / f".{aside.name}"
    make_dirs(hidden)
    for path in files:
        link_or_copy(path, hidden / layout.relative(path))
    if answers:
        copy_journal(layout.journal, hidden / JOURNAL)
    write_record(exp_dir, hidden / ROLLBACK_MANIFEST, record)
    fsync_dir(hidden)
    rename(hidden, aside)  # the commit point
    fsync_dir(layout.rolled_back)
    return _apply(exp_dir, aside, record)


def _sweep(layout: Layout) -> None:
    """Hidden set-aside folders are rollbacks killed before their commit: never applied.
    Only folders named as this module names them go; a link is never followed."""
    refuse_links(layout.rolled_back, action="delete through")
    if is_real_dir(layout.rolled_back):
        for leftover in layout.rolled_back.iterdir():
            hidden = leftover.name[:1] == "." and ASIDE_NAME.match(leftover.name[1:])
            if hidden and is_real_dir(leftover):
                remove_tree(leftover)


def _apply(exp_dir: Path, aside: Path, record: RollbackRecord) -> RollbackRecord:
    """Phase 2; safe to run again from any point (each step is idempotent). Refuses, before
    changing anything, a record this tool did not write (:class:`RecordRefused`)."""
    layout = Layout(exp_dir)
    files, state, created = check_record(exp_dir, aside, record)
    if not record.keep_answers and layout.journal.exists():
        refuse_database_links(layout.journal)
        with contextlib.closing(sqlite3.connect(str(layout.journal))) as db, db:
            db.execute("DELETE FROM responses WHERE created > ?", (record.cutoff,))
            db.execute("DELETE FROM failures WHERE created > ?", (record.cutoff,))
    mine = renamed(state, exp_dir.name)
    resume_from(exp_dir, mine, created)
    for path in files:
        if _belongs_after(path.name, record.to_generation, len(state.tests)):
            remove(path)
    with contextlib.closing(Journal(layout.journal)) as journal:
        write_results(exp_dir, mine, INTERRUPTED.status, journal.stats())
    finished = dataclasses.replace(record, done=True)
    write_record(exp_dir, aside / ROLLBACK_MANIFEST, finished)
    return finished


def finish_pending(exp_dir: Path, *, trust: bool = False) -> list[RollbackRecord]:
    """Complete every rollback that a kill interrupted after its commit point (under the
    experiment's lock: the next rollback and every resume call this first). A pending record
    not signed by this user's key stops it before anything changes (:class:`UnsignedRecord`)
    unless ``trust`` (``--trust-folder``)."""
    confine_to(exp_dir.parent)
    pending = []
    for aside in Layout(exp_dir).rollbacks():
        try:
            doc = read_checked_json(aside / ROLLBACK_MANIFEST)
            record = RollbackRecord.from_json(doc)
        except (OSError, ValueError, SchemaError, CorruptFile):
            continue  # garbled: never applied (verify reports it)
        if record.done:
            continue
        if not trust and not record_signed(exp_dir, doc):
            raise UnsignedRecord(aside / ROLLBACK_MANIFEST)
        pending.append((aside, record))
    return [_apply(exp_dir, aside, record) for aside, record in pending]
