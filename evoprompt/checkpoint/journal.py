"""The call journal: every LLM answer, recorded durably the moment it arrives.

SQLite in WAL mode inside the experiment folder. A response row is committed before the caller
sees the answer, so a process killed at any instant loses at most the calls still in flight,
and a resumed run finds every answered call here instead of paying for it again. Errors are
never stored as answers. Statistics are derived from the rows, so they count each paid call
exactly once however many times the run was killed and resumed.

Answers are stored as opaque JSON text with their usage numbers: what an answer means is the
LLM layer's business, so this package depends on nothing above it. Each row carries a
checksum (sha256) of its key and answer, checked on every read: a garbled or carelessly edited
row, or one with no checksum, is moved to ``rejected`` and the call asked again, never used.
The checksum guards against corruption, not forgery: whoever can write the folder can
recompute it (see docs/security.md). A request is recorded in
``pending`` before it goes out and cleared when its outcome is recorded, so calls a crash caught
on the wire (billed, their answers lost) are counted as ``lost_in_flight`` instead of vanishing.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, NamedTuple

from evoprompt.checkpoint.journal_rows import (
    LOST,
    journal_answers,
    journal_stats,
    lost_counter,
    row_checksum,
    row_problem,
)
from evoprompt.checkpoint.journal_schema import COLUMNS, JournalUnusable, prepare
from evoprompt.checkpoint.nofollow import refuse_database_links
from evoprompt.checkpoint.spend import inherited, set_aside, spent


class Answer(NamedTuple):
    """One answer row as the caller gives it (``write`` adds the time and the checksum)."""

    key: str
    payload: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    attempts: int
    fallback: bool
    role: str = ""  # which role asked: task (scoring) or operator (writing prompts)
    endpoint: str = ""  # the backend and base URL that answered (no credentials)


class JournalUnwritable(OSError):
    """journal.sqlite cannot be written (disk full, read-only): its content is intact."""


class BadRow(Exception):
    """A journaled answer that fails its checksum or is not valid JSON: never used."""


class Journal:
    """Durable map from request key to response, plus the counters behind ``api_stats``.

    ``path=None`` keeps everything in memory (``--no-checkpoint``): answers are still reused
    within the process, nothing touches the disk.
    """

    def __init__(self, path: Path | None, *, trust_unchecked: bool = False):
        self.path = path
        if path is not None:
            refuse_database_links(path)
        try:
            self._db = sqlite3.connect(
                ":memory:" if path is None else str(path), isolation_level=None
            )
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL: a commit survives a killed process (the WAL is written before
                # returning); only a power cut may lose the last answers, then simply re-asked.
                self._db.execute("PRAGMA synchronous=NORMAL")
            prepare(self._db, path, trust_unchecked)
            self._fold_pending()
            by_role = self._db.execute(
                "SELECT COALESCE(role, ''), COUNT(*),"
                " COALESCE(SUM(prompt_tokens + completion_tokens), 0), COALESCE(SUM(cost), 0)"
                " FROM responses GROUP BY 1"
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "malformed" in str(exc) or "not a database" in str(exc):
                raise self._garbled(exc) from None
            raise JournalUnwritable(
                f"cannot write {path} ({exc}); its answers are intact: free some space (or fix "
                "the folder's permissions) and run the same command again"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise self._garbled(exc) from None
        # What rollbacks set aside (paid, no longer here) and a fork inherited (paid by its
        # parent, copied here): fixed while this journal is open, so read once.
        self._aside, self._inherited = ({}, {}) if path is None else self._history(path.parent)
        # Running totals for budget checks: kept in memory so a check costs nothing per call.
        # They are this experiment's spend, as api_stats counts it (checkpoint/spend.py).
        # Per role too (rows from before roles were recorded count in the total only).
        self._totals = self._running(
            None, sum(r[1] for r in by_role), sum(r[2] for r in by_role), sum(r[3] for r in by_role)
        )
        self._role_totals = {
            role: self._running(role, calls, tokens, cost)
            for role, calls, tokens, cost in by_role
            if role
        }  # fmt: skip

    def _history(self, exp_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        return set_aside(exp_dir, self._db), inherited(exp_dir)

    def _running(self, role: str | None, calls: int, tokens: int, cost: float) -> dict[str, float]:
        """Running totals of ``role`` (None: every role) from the rows' sums, shifted by what
        rollbacks set aside and a fork inherited."""

        def shift(key: str) -> Any:
            aside, got = self._aside, self._inherited
            if role is not None:
                aside, got = (
                    aside.get("roles", {}).get(role, {}),
                    got.get("roles", {}).get(role, {}),
                )
            return aside.get(key, 0) - got.get(key, 0)

        return {
            "calls": calls + shift("succeeded"),
            "tokens": tokens + shift("prompt_tokens") + shift("completion_tokens"),
            "cost": cost + shift("cost_usd"),
        }

    def _garbled(self, exc: sqlite3.Error) -> JournalUnusable:
        path = self.path
        return JournalUnusable(
            f"{path} is not a usable journal: it is garbled ({exc}); move it aside "
            f"(mv {path} {path}.bad) to resume without it: its answered calls would be "
            "paid for again"
        )

    def _fold_pending(self) -> None:
        """Requests a dead process left on the wire: billed, their answers lost (counted in
        all and per role)."""
        by_role = self._db.execute(
            "SELECT COALESCE(role, ''), COUNT(*) FROM pending GROUP BY 1"
        ).fetchall()
        self._db.execute("DELETE FROM pending")
        for role, lost in by_role:
            self.bump(LOST, lost)
            if role:
                self.bump(lost_counter(role), lost)

    def get(self, key: str) -> str | None:
        """The JSON text journaled for ``key``, or None when the call was never answered.

        Raises BadRow for a row that fails its checksum or is not JSON (see :meth:`reject`).
        """
        row = self._db.execute(
            "SELECT response, checksum FROM responses WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        problem = row_problem(key, row[0], row[1])
        if problem:
            raise BadRow(problem)
        return str(row[0])

    def reject(self, key: str, reason: str) -> None:
        """Move a bad answer row aside (kept in ``rejected``) so the call is asked again."""
        self._db.execute("BEGIN")
        self._db.execute(
            "INSERT INTO rejected SELECT key, response, ?, ? FROM responses WHERE key = ?",
            (reason, time.time(), key),
        )
        self._db.execute("DELETE FROM responses WHERE key = ?", (key,))
        self._db.execute("COMMIT")

    def sent(self, key: str, role: str = "") -> None:
        """Record that ``role``'s request for ``key`` is going out (cleared when its outcome
        lands)."""
        self.write([(key, role)], [])

    def settled(self, key: str) -> None:
        """The request for ``key`` came back without an answer to bill (a failed attempt)."""
        self._db.execute("DELETE FROM pending WHERE key = ?", (key,))

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
        self.write(
            [], [Answer(key, payload, model, prompt_tokens, completion_tokens, cost, attempts,
                        fallback)]
        )  # fmt: skip

    def write(self, sent: list[tuple[str, str]], answers: list[Answer]) -> None:
        """One transaction: requests going out (``pending``) and answers (cleared from it).

        The group commit (``group.py``) gathers every caller of one event-loop turn into one
        call here, so a commit is paid per turn rather than per answer."""
        now = time.time()
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR REPLACE INTO pending (key, created, role)"
                                 " VALUES (?, ?, ?)",
                                 [(key, now, role or None) for key, role in sent])  # fmt: skip
            inserted = [
                self._db.execute(
                    f"INSERT OR IGNORE INTO responses ({COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (a.key, a.model, a.payload, a.prompt_tokens, a.completion_tokens, a.cost,
                     a.attempts, a.fallback, now, row_checksum(a.key, a.payload),
                     a.role or None, a.endpoint or None),
                ).rowcount
                for a in answers
            ]  # fmt: skip
            self._db.executemany("DELETE FROM pending WHERE key = ?", [(a.key,) for a in answers])
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        for a, new in zip(answers, inserted):
            if new:
                held = [self._totals]
                if a.role:
                    held.append(
                        self._role_totals.setdefault(a.role, self._running(a.role, 0, 0, 0))
                    )
                for totals in held:
                    totals["calls"] += 1
                    totals["tokens"] += a.prompt_tokens + a.completion_tokens
                    totals["cost"] += a.cost

    def record_failure(
        self, key: str, model: str, reason: str, attempts: int, role: str = "", endpoint: str = ""
    ) -> None:
        self._db.execute("BEGIN")
        self._db.execute(
            "INSERT INTO failures (key, model, reason, attempts, created, role, endpoint)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, model, reason, attempts, time.time(), role or None, endpoint or None),
        )
        self._db.execute("DELETE FROM pending WHERE key = ?", (key,))
        self._db.execute("COMMIT")

    def bump(self, name: str, by: int = 1) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def totals(self, role: str | None = None) -> dict[str, float]:
        """Calls, tokens and cost paid so far (what budgets are checked against), by every
        role or by ``role`` alone."""
        if role is None:
            return dict(self._totals)
        return dict(self._role_totals.get(role) or self._running(role, 0, 0, 0))

    def stats(self) -> dict[str, Any]:
        """api_stats of this experiment: every call it paid for, counted once."""
        return spent(journal_stats(self._db), self._aside, self._inherited)

    def contents(self) -> dict[str, Any]:
        """api_stats of the rows this journal holds (what a fork copies from it)."""
        return journal_stats(self._db)

    def answers(self) -> dict[str, str | None]:
        """Every key answered, with its answer (None: set aside as bad): what a resume checks
        the batch files against."""
        return journal_answers(self._db)

    def close(self) -> None:
        self._db.close()
