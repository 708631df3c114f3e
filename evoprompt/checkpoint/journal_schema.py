"""The journal's tables, and the upgrade of a journal written by an older version.

Kept apart from :mod:`evoprompt.checkpoint.journal` (which reads and writes answers) because
its job is once per open: create what is missing and bring an older file up to the current
columns, refusing the one upgrade that would hide an edit (rows without checksums).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from evoprompt.checkpoint.journal_rows import row_checksum

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    attempts INTEGER NOT NULL,
    fallback INTEGER NOT NULL,
    created REAL NOT NULL,
    checksum TEXT,
    role TEXT,
    endpoint TEXT
);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created REAL NOT NULL,
    role TEXT,
    endpoint TEXT
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, created REAL NOT NULL, role TEXT);
CREATE TABLE IF NOT EXISTS rejected (
    key TEXT NOT NULL,
    response TEXT,
    reason TEXT NOT NULL,
    created REAL NOT NULL
);
"""
COLUMNS = (
    "key, model, response, prompt_tokens, completion_tokens, cost, attempts, fallback, created,"
    " checksum, role, endpoint"
)
# Who answered (added after the first journals: a row from before has neither, NULL).
_WHO = ("role", "endpoint")


class JournalUnusable(Exception):
    """journal.sqlite exists but cannot be opened as the journal (garbled, not SQLite)."""


def prepare(db: sqlite3.Connection, path: Path | None, trust: bool) -> None:
    """Create the tables a journal lacks and give an older journal today's columns."""
    db.executescript(_SCHEMA)
    _add_checksums(db, path, trust)
    _add_who(db)


def _add_checksums(db: sqlite3.Connection, path: Path | None, trust: bool) -> None:
    """Give rows journaled before checksums existed theirs, only when the user vouches
    for them (``--trust-folder``): a dropped checksum column is how an edit would hide."""
    columns = [row[1] for row in db.execute("PRAGMA table_info(responses)")]
    if "checksum" in columns:
        return
    count = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    if count and not trust:
        raise JournalUnusable(
            f"{path} has no checksum column (written before row checksums, or edited), so "
            f"its {count} answers cannot be checked: pass --trust-folder to keep them, or "
            f"move it aside (mv {path} {path}.unchecked) to pay for them again"
        )
    db.execute("ALTER TABLE responses ADD COLUMN checksum TEXT")
    rows = db.execute("SELECT key, response FROM responses").fetchall()
    db.executemany(
        "UPDATE responses SET checksum = ? WHERE key = ?",
        [(row_checksum(k, r), k) for k, r in rows],
    )


def _add_who(db: sqlite3.Connection) -> None:
    """Give a journal from before roles the columns saying who answered, or who asked what
    is on the wire (its rows: NULL)."""
    for table, columns in (("responses", _WHO), ("failures", _WHO), ("pending", ("role",))):
        held = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        for column in columns:
            if column not in held:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
