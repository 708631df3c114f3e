"""Integrity of every file a resume depends on, checked read-only (``verify``, ``status``).

Each checkpoint JSON must pass its own checksum and have the fields the loader reads;
state.pkl must pass its header checksum and load through the allow-list unpickler (a tampered
pickle is refused before anything in it runs, and reported); journal.sqlite must pass
``PRAGMA integrity_check`` on a read-only connection.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import CorruptFile, read_checked_json
from evoprompt.checkpoint.journal import JOURNAL_NAME, open_readonly
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.store import (
    BACKUP,
    CHECKPOINTS,
    LATEST,
    STATE,
    CheckpointStore,
    decode_state,
)
from evoprompt.core.experiment import CONFIG_NAME
from evoprompt.core.state import ExperimentState
from evoprompt.report.experiment import SUMMARY

_HISTORY = re.compile(r"^gen(\d+)_batch0\.json$")
_BATCH = re.compile(r"^gen(\d+)_batch(\d+)\.json$")


@dataclass
class FileCheck:
    name: str  # relative to the experiment folder
    size: int | None
    problem: str | None = None  # None: the file holds

    @property
    def ok(self) -> bool:
        return self.problem is None


def _descriptor_problem(doc: dict[str, Any], path: Path) -> str | None:
    for key in ("seq", "timestamp", "generation", "batch_idx"):
        if not isinstance(doc.get(key), (int, float)):
            return f"field '{key}' is missing or not a number"
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("stage"), str):
        return "field 'metadata.stage' is missing"
    match = _HISTORY.match(path.name)
    if match:
        done = meta.get("completed_generation")
        if done != int(match.group(1)):
            return f"describes generation {done}, not the one its name says"
    return None


def _batch_problem(doc: dict[str, Any], path: Path) -> str | None:
    match = _BATCH.match(path.name)
    if match and doc.get("generation") != int(match.group(1)):
        return f"holds generation {doc.get('generation')}, not the one its name says"
    prompts = doc.get("prompts")
    if not isinstance(prompts, list):
        return "field 'prompts' is missing"
    for entry in prompts:
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            return "a prompt entry has no text"
        if len(entry.get("predictions") or []) != len(entry.get("ground_truths") or []):
            return "predictions and ground truths differ in length"
    return None


def _check_json(
    path: Path, name: str, structure: Callable[[dict[str, Any], Path], str | None]
) -> FileCheck:
    check = FileCheck(name, _size(path))
    try:
        doc = read_checked_json(path)
    except CorruptFile as exc:
        check.problem = exc.why
        return check
    check.problem = structure(doc, path)
    return check


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _check_state(path: Path) -> FileCheck:
    check = FileCheck(f"{CHECKPOINTS}/{STATE}", _size(path))
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
        if not isinstance(payload, ExperimentState):
            check.problem = f"holds a {type(payload).__name__}, not an experiment state"
    return check


def _check_journal(path: Path) -> FileCheck:
    wal = path.with_name(path.name + "-wal")
    size = (_size(path) or 0) + (_size(wal) or 0)
    check = FileCheck(JOURNAL_NAME, size)
    try:
        with contextlib.closing(open_readonly(path)) as db:
            rows = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall()]
            db.execute("SELECT COUNT(*) FROM responses").fetchone()
    except sqlite3.Error as exc:
        check.problem = f"not a usable SQLite database ({exc})"
        return check
    if rows != ["ok"]:
        check.problem = "integrity check failed: " + "; ".join(rows[:3])
    return check


def _check_plain_json(path: Path) -> FileCheck:
    check = FileCheck(path.name, _size(path))
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        check.problem = "missing"
        return check
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        check.problem = f"not valid JSON ({exc.__class__.__name__})"
        return check
    if not isinstance(doc, dict):
        check.problem = "not a JSON object"
    return check


def check_files(exp_dir: Path) -> list[FileCheck]:
    """Every checkpoint file present (and latest.json when it must be), in resume order."""
    folder = exp_dir / CHECKPOINTS
    store = CheckpointStore(exp_dir)
    checks: list[FileCheck] = []
    if (exp_dir / CONFIG_NAME).exists() or folder.is_dir():
        checks.append(_check_plain_json(exp_dir / CONFIG_NAME))
    if folder.is_dir():
        # latest.json is written before state.pkl and history ever are; a run killed during
        # its first batch may have batch files but no latest.json yet, which is fine.
        required = (folder / STATE).exists() or bool(store.history_files())
        for name in (LATEST, BACKUP):
            if (folder / name).exists() or (name == LATEST and required):
                checks.append(
                    _check_json(folder / name, f"{CHECKPOINTS}/{name}", _descriptor_problem)
                )
        if (folder / STATE).exists():
            checks.append(_check_state(folder / STATE))
        for path in reversed(store.history_files()):
            checks.append(_check_json(path, f"{CHECKPOINTS}/{path.name}", _descriptor_problem))
        for _, _, path in store.batch_files():
            checks.append(_check_json(path, f"{CHECKPOINTS}/batches/{path.name}", _batch_problem))
    if (exp_dir / JOURNAL_NAME).exists():
        checks.append(_check_journal(exp_dir / JOURNAL_NAME))
    elif folder.is_dir():
        checks.append(FileCheck(JOURNAL_NAME, None, "missing"))
    if (exp_dir / SUMMARY).exists():
        checks.append(_check_plain_json(exp_dir / SUMMARY))
    return checks
