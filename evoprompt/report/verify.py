"""Integrity of every file a resume depends on, checked read-only (``verify``, ``status``).

Each checkpoint JSON must pass its own checksum and have the fields the loader reads;
state.pkl must pass its header checksum and load through the allow-list unpickler (a tampered
pickle is refused before anything in it runs, and reported); journal.sqlite must pass
``PRAGMA integrity_check`` on a read-only connection, and every answer row its own checksum
(which tells corruption and careless edits, not forgery: see docs/security.md); and every
answer the batch files and population.jsonl record must still be in the journal (rows deleted
are counted).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.branching.rollback_check import UnsignedRecord, check_record, record_signed
from evoprompt.branching.snapshot import BranchError
from evoprompt.checkpoint.atomic import CorruptFile, read_checked_json
from evoprompt.checkpoint.journal_rows import bad_rows, journal_answers, open_readonly
from evoprompt.checkpoint.layout import (
    BATCH_PATTERN,
    CHECKPOINTS,
    JOURNAL,
    ROLLBACK_MANIFEST,
    TEST_BATCH_PATTERN,
    Layout,
)
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.schema import RollbackRecord, SchemaError, is_manager_payload
from evoprompt.checkpoint.schema.fields import document
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import decode_state, read_batch, read_descriptor
from evoprompt.metrics.base import Example
from evoprompt.runner.stored import read_stored


@dataclass
class FileCheck:
    name: str  # relative to the experiment folder
    size: int | None
    problem: str | None = None  # None: the file holds

    @property
    def ok(self) -> bool:
        return self.problem is None


def _check_descriptor(path: Path, layout: Layout) -> FileCheck:
    """latest.json, backup.json or a history copy: checksum, fields, and the generation a
    history file's name claims."""
    check = FileCheck(layout.relative(path), _size(path))
    try:
        doc = read_descriptor(path)
    except CorruptFile as exc:
        check.problem = exc.why
        return check
    named = next((gen for gen, p in layout.history_files() if p == path), None)
    if named is not None and doc.history_of != named:
        check.problem = f"describes generation {doc.history_of}, not the one its name says"
    return check


def _check_batch(path: Path, layout: Layout) -> FileCheck:
    check = FileCheck(layout.relative(path), _size(path))
    try:
        record = read_batch(path)
    except CorruptFile as exc:
        check.problem = exc.why
        return check
    match = BATCH_PATTERN.match(path.name) or TEST_BATCH_PATTERN.match(path.name)
    if match and record.generation != int(match.group(1)):
        what = "test phase" if match.re is TEST_BATCH_PATTERN else "generation"
        check.problem = f"holds {what} {record.generation}, not the one its name says"
    return check


def _size(path: Path) -> int | None:
    try:
        return path.lstat().st_size
    except OSError:
        return None


def _check_state(path: Path) -> tuple[FileCheck, Any]:
    """The check, and the payload when it loads (it tells who wrote the folder)."""
    check = FileCheck(f"{CHECKPOINTS}/{path.name}", _size(path))
    payload = None
    try:
        _, payload = decode_state(path)
    except CorruptFile as exc:
        check.problem = exc.why
    except UnsafePickle as exc:
        check.problem = (
            f"refused: it names the disallowed object '{exc.name}' (tampered? nothing in it was "
            "executed)"
        )
    else:
        if not isinstance(payload, ExperimentState) and not is_manager_payload(payload):
            check.problem = f"holds a {type(payload).__name__}, not an experiment state"
    return check, payload


def _check_journal(path: Path) -> FileCheck:
    wal = path.with_name(path.name + "-wal")
    size = (_size(path) or 0) + (_size(wal) or 0)
    check = FileCheck(JOURNAL, size)
    try:
        with contextlib.closing(open_readonly(path)) as db:
            rows = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall()]
            bad, lines = bad_rows(db)
    except sqlite3.Error as exc:
        check.problem = f"not a usable SQLite database ({exc})"
        return check
    except PathRefused as exc:
        check.problem = str(exc)
        return check
    if rows != ["ok"]:
        check.problem = "integrity check failed: " + "; ".join(rows[:3])
    elif bad:
        check.problem = (
            f"{bad} answer rows fail their checks ({'; '.join(lines)}); a run sets them aside "
            "and asks again"
        )
    return check


def _check_gaps(exp_dir: Path) -> FileCheck | None:
    """Answers the checkpoints record that the journal lacks; None when the data the batches
    were scored on cannot be loaded from here (nothing to match them with). Loads no code:
    a ``python:`` metric is not imported."""
    # Imported here: the other checks (and status) stay free of the runner's modules.
    from evoprompt.evaluation.scorers import make_scorer
    from evoprompt.runner.answers import count_missing
    from evoprompt.runner.task import load_task

    layout = Layout(exp_dir)
    try:
        config = read_stored(exp_dir).as_found()
        files = [Path(name) for name in (config.dataset, config.test_dataset) if name]
        if any(path.exists() and not path.is_file() for path in files):
            return None  # a FIFO or device named as data: never opened by a read-only command
        task = load_task(config, run_code=False)
        with contextlib.closing(open_readonly(layout.journal)) as db:
            answers = journal_answers(db)
    except (ValueError, OSError, sqlite3.Error):  # DatasetError, ConfigError: ValueErrors
        return None
    examples = [Example(t, g) for t, g in zip(task.dev.texts, task.dev.gold)]
    test = task.test.data if task.test is not None else None
    tests = [] if test is None else [Example(t, g) for t, g in zip(test.texts, test.gold)]
    scorer = make_scorer(config, task.metric)
    gaps = count_missing(layout, scorer, examples, tests, config.fallback_model, answers)
    problem = gaps.line() if gaps.missing or gaps.differing else None
    return FileCheck(f"{JOURNAL} (answers the checkpoints record)", None, problem)


def _check_plain_json(path: Path) -> FileCheck:
    check = FileCheck(path.name, _size(path))
    try:
        doc = json.loads(read_text(path))
    except FileNotFoundError:
        check.problem = "missing"
        return check
    except PathRefused as exc:
        check.problem = str(exc)
        return check
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        check.problem = f"not valid JSON ({exc.__class__.__name__})"
        return check
    try:
        document(doc, path.name)  # a newer evoprompt's (NewerFormat) stops the command
    except SchemaError as exc:
        check.problem = str(exc)
    return check


def check_files(exp_dir: Path) -> list[FileCheck]:
    """Every checkpoint file present (and those that must be), in resume order.

    A folder written by the programmatic ``CheckpointManager`` has no config.json, journal or
    batch files, and its state.pkl holds the manager's payload: only what it wrote is checked.
    """
    layout = Layout(exp_dir)
    folder = layout.checkpoints
    checks: list[FileCheck] = []
    payload = None
    if folder.is_dir():
        # latest.json is written before state.pkl and history ever are; a run killed during
        # its first batch may have batch files but no latest.json yet, which is fine.
        required = layout.state.exists() or bool(layout.history_files())
        for path in (layout.latest, layout.backup):
            if path.exists() or (path == layout.latest and required):
                checks.append(_check_descriptor(path, layout))
        if layout.state.exists():
            state_check, payload = _check_state(layout.state)
            checks.append(state_check)
        for _, path in reversed(layout.history_files()):
            checks.append(_check_descriptor(path, layout))
        for _, path in reversed(layout.snapshot_files()):
            checks.append(_check_state(path)[0])
        for test in (False, True):
            for _, _, path in layout.batch_files(test=test):
                checks.append(_check_batch(path, layout))
    by_runner = not is_manager_payload(payload) or any(
        p.exists() for p in (layout.config, layout.journal, layout.batches)
    )
    if by_runner and (layout.config.exists() or folder.is_dir()):
        checks.insert(0, _check_plain_json(layout.config))
    if layout.journal.exists():
        checks.append(_check_journal(layout.journal))
        gaps = _check_gaps(exp_dir)
        if gaps is not None:
            checks.append(gaps)
    elif folder.is_dir() and by_runner:
        checks.append(FileCheck(JOURNAL, None, "missing"))
    if layout.summary.exists():
        checks.append(_check_plain_json(layout.summary))
    if isinstance(payload, ExperimentState):
        checks += _missing_history(layout, payload.generation)
    checks += [_check_rollback(exp_dir, aside) for aside in layout.rollbacks()]
    return checks


def _check_rollback(exp_dir: Path, aside: Path) -> FileCheck:
    """A rollback record: its checksum, and for one not yet done (the next resume applies
    it) its signature and everything :func:`check_record` demands of it."""
    layout = Layout(exp_dir)
    path = aside / ROLLBACK_MANIFEST
    check = FileCheck(layout.relative(path), _size(path))
    try:
        doc = read_checked_json(path)
        record = RollbackRecord.from_json(doc)
        if not record.done:
            if not record_signed(exp_dir, doc):
                raise UnsignedRecord(path)
            check_record(exp_dir, aside, record)
    except CorruptFile as exc:
        check.problem = exc.why
    except (SchemaError, PathRefused, BranchError, sqlite3.Error) as exc:
        check.problem = str(exc)
    return check


def _missing_history(layout: Layout, completed: int) -> list[FileCheck]:
    """History copies that must exist: the newest completed generation's, and every one from
    the oldest kept (pruning removes only the oldest) up to it."""
    present = {gen for gen, _ in layout.history_files()}
    oldest = min(present, default=completed)
    return [
        FileCheck(layout.relative(layout.history(gen)), None, "missing")
        for gen in range(max(oldest, 0), completed + 1)
        if gen not in present
    ]
