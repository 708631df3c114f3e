"""The call journal: every LLM answer, recorded durably the moment it arrives.

SQLite in WAL mode inside the experiment folder. A response row is committed before the caller
sees the answer, so a process killed at any instant loses at most the calls still in flight,
and a resumed run finds every answered call here instead of paying for it again. Errors are
never stored as answers. Statistics are derived from the rows, so they count each paid call
exactly once however many times the run was killed and resumed.

Answers are stored as opaque JSON text with their usage numbers: what an answer means is the
LLM layer's business, so this package depends on nothing above it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

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
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


REJECTED = "children_rejected"  # counter: operator replies the child quality gate refused


class JournalUnusable(Exception):
    """journal.sqlite exists but cannot be opened as the journal (garbled, not SQLite)."""


class Journal:
    """Durable map from request key to response, plus the counters behind ``api_stats``.

    ``path=None`` keeps everything in memory (``--no-checkpoint``): answers are still reused
    within the process, nothing touches the disk.
    """

    def __init__(self, path: Path | None):
        self.path = path
        try:
            self._db = sqlite3.connect(
                ":memory:" if path is None else str(path), isolation_level=None
            )
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL: a commit survives a killed process (the WAL is written before
                # returning); only a power cut may lose the last answers, then simply re-asked.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            calls, tokens, cost = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(prompt_tokens + completion_tokens), 0),"
                " COALESCE(SUM(cost), 0) FROM responses"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise JournalUnusable(
                f"{path} is not a usable journal ({exc}); move it aside "
                f"(mv {path} {path}.bad) to resume without it: its answered calls would be "
                "paid for again"
            ) from None
        # Running totals for budget checks: kept in memory so a check costs nothing per call.
        self._totals = {"calls": calls, "tokens": tokens, "cost": cost}

    def get(self, key: str) -> str | None:
        """The JSON text journaled for ``key``, or None when the call was never answered."""
        row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(
        self,
        key: str,
        payload: str,
        *,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        attempts: int,
        fallback: bool,
    ) -> None:
        """Record an answer; the first answer to a key stands (callers look it up first)."""
        inserted = self._db.execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                model,
                payload,
                prompt_tokens,
                completion_tokens,
                cost,
                attempts,
                int(fallback),
                time.time(),
            ),
        ).rowcount
        if inserted:
            self._totals["calls"] += 1
            self._totals["tokens"] += prompt_tokens + completion_tokens
            self._totals["cost"] += cost

    def record_failure(self, key: str, model: str, reason: str, attempts: int) -> None:
        self._db.execute(
            "INSERT INTO failures (key, model, reason, attempts, created) VALUES (?, ?, ?, ?, ?)",
            (key, model, reason, attempts, time.time()),
        )

    def bump(self, name: str, by: int = 1) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def totals(self) -> dict[str, float]:
        """Calls, tokens and cost paid so far (what budgets are checked against)."""
        return dict(self._totals)

    def stats(self) -> dict[str, Any]:
        return journal_stats(self._db)

    def close(self) -> None:
        self._db.close()


def journal_stats(db: sqlite3.Connection) -> dict[str, Any]:
    """``api_stats`` of spec section 4, computed from the journal's rows."""
    ok, ok_retried, retries_ok, prompt, completion, cost, fallbacks = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(attempts > 1), 0), COALESCE(SUM(attempts - 1), 0),"
        " COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),"
        " COALESCE(SUM(cost), 0), COALESCE(SUM(fallback), 0) FROM responses"
    ).fetchone()
    failed, failed_retried, retries_failed = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(attempts > 1), 0), COALESCE(SUM(attempts - 1), 0)"
        " FROM failures"
    ).fetchone()
    counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
    retried_calls = ok_retried + failed_retried
    return {
        "calls": ok + failed,
        "succeeded": ok,
        "failed": failed,
        "retried": retries_ok + retries_failed,
        "retried_calls": retried_calls,
        "retry_success_rate": round(ok_retried / retried_calls, 4) if retried_calls else None,
        "cache_hits": counters.get("cache_hits", 0),
        REJECTED: counters.get(REJECTED, 0),
        "fallback_calls": fallbacks,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": round(cost, 6),
    }


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection for inspection that takes no lock and leaves no file behind.

    Without a ``-wal`` file the database was closed cleanly and is fully checkpointed, so it is
    opened ``immutable`` (a plain ``mode=ro`` connection would create -wal/-shm files it cannot
    remove). With one, a live or killed writer's WAL must be read, so ``mode=ro``.
    """
    wal = path.with_name(path.name + "-wal")
    query = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True)
