"""Reading the journal's rows: their checksums, ``api_stats`` derived from them, and a
lock-free read-only connection (what the inspection commands use without the runner)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.nofollow import refuse_database_links

LOST = "lost_in_flight"


def lost_counter(role: str) -> str:
    """The counter of ``role``'s calls lost on the wire (folded from ``pending``)."""
    return f"{LOST}:{role}"


def row_checksum(key: str, payload: str) -> str:
    """What a response row's checksum covers: its key and its answer."""
    return hashlib.sha256(key.encode() + b"\0" + payload.encode()).hexdigest()


def row_problem(key: str, payload: object, checksum: object) -> str | None:
    """Why a stored answer must not be used (None: it holds)."""
    if checksum is None:
        return "has no checksum (edited)"
    if not isinstance(payload, str) or checksum != row_checksum(key, payload):
        return "fails its checksum (garbled or edited)"
    try:
        json.loads(payload)
    except ValueError:
        return "is not valid JSON"
    return None


REJECTED = "children_rejected"  # counter: operator replies the child quality gate refused
# Requests no call's attempts count: a timed-out request sent again into a congested server's
# queue, an outage probe with a call's own request that failed, the log-likelihood probe's.
RESENT = "resent_requests"
PROBED = "probe_requests"
PINGS = "outage_probes"  # counter: the cheap requests (GET /models) that probed an outage


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
    try:  # requests still marked on the wire: a live run's in flight, a dead run's lost
        pending = db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
    except sqlite3.OperationalError:  # a journal from before in-flight accounting
        pending = 0
    lost = counters.get(LOST, 0) + pending
    retried_calls = ok_retried + failed_retried
    extra = counters.get(RESENT, 0) + counters.get(PROBED, 0)
    return {
        "calls": ok + failed + lost,
        # every completion request sent: each call's attempts, those lost on the wire, and the
        # requests no attempt counts (re-sends into a queue, probes)
        "requests": ok + retries_ok + failed + retries_failed + lost + extra,
        "succeeded": ok,
        "failed": failed,
        "retried": retries_ok + retries_failed,
        "retried_calls": retried_calls,
        "retried_succeeded": ok_retried,
        "retry_success_rate": round(ok_retried / retried_calls, 4) if retried_calls else None,
        "cache_hits": counters.get("cache_hits", 0),
        REJECTED: counters.get(REJECTED, 0),
        "fallback_calls": fallbacks,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": round(cost, 6),
        LOST: lost,
        RESENT: counters.get(RESENT, 0),
        PINGS: counters.get(PINGS, 0),
        BY_ROLE: role_stats(db, counters),
    }


BY_ROLE = "roles"  # api_stats per role: what the task model and the operator each spent
ROLE_FIGURES = (
    "calls",
    "succeeded",
    "failed",
    LOST,
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)


def who(db: sqlite3.Connection, table: str) -> str:
    """The SQL naming a row's role: '' in a journal from before roles were recorded."""
    columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    return "COALESCE(role, '')" if "role" in columns else "''"


def role_stats(db: sqlite3.Connection, counters: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Calls, tokens and cost per role (rows from before roles were recorded: in no role);
    a role's calls, like the whole's, are those answered, failed and lost on the wire."""
    roles: dict[str, dict[str, Any]] = {}

    def of(role: str) -> dict[str, Any]:
        return roles.setdefault(role, dict.fromkeys(ROLE_FIGURES, 0))

    for role, ok, prompt, completion, cost in db.execute(
        f"SELECT {who(db, 'responses')}, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),"
        " SUM(cost) FROM responses GROUP BY 1"
    ):
        figures = of(role)
        figures.update(succeeded=ok, prompt_tokens=prompt, completion_tokens=completion)
        figures["cost_usd"] = round(cost, 6)
    for role, failed in db.execute(
        f"SELECT {who(db, 'failures')}, COUNT(*) FROM failures GROUP BY 1"
    ):
        of(role)["failed"] = failed
    for name, lost in counters.items():
        if name.startswith(f"{LOST}:"):
            of(name.partition(":")[2])[LOST] += lost
    with contextlib.suppress(sqlite3.OperationalError):  # a journal from before roles
        for role, lost in db.execute(
            f"SELECT {who(db, 'pending')}, COUNT(*) FROM pending GROUP BY 1"
        ):
            of(role)[LOST] += lost
    for figures in roles.values():
        figures["calls"] = figures["succeeded"] + figures["failed"] + figures[LOST]
    roles.pop("", None)
    return roles


def bad_rows(db: sqlite3.Connection) -> tuple[int, list[str]]:
    """How many answer rows fail their checksum or are not JSON, and a line for the first few.
    A journal with no checksum column (older, or edited) has every row unchecked."""
    columns = [row[1] for row in db.execute("PRAGMA table_info(responses)")]
    if "checksum" not in columns:
        count = int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
        line = "the journal has no checksum column (older, or edited): no row can be checked"
        return count, [line] if count else []
    found, lines = 0, list[str]()
    for key, payload, checksum in db.execute("SELECT key, response, checksum FROM responses"):
        problem = row_problem(key, payload, checksum)
        if problem:
            found += 1
            if len(lines) < 3:
                lines.append(f"the answer for {key[:16]}... {problem}")
    return found, lines


def journal_answers(db: sqlite3.Connection) -> dict[str, str | None]:
    """Every key the journal answered, with its answer (None for a row set aside as bad: gone
    from use, but not deleted)."""
    found: dict[str, str | None] = {}
    with contextlib.suppress(sqlite3.OperationalError):  # a journal from before ``rejected``
        found.update((row[0], None) for row in db.execute("SELECT key FROM rejected"))
    found.update(db.execute("SELECT key, response FROM responses").fetchall())
    return found


def readonly_uri(path: Path) -> str:
    """The URI of a read-only view of a database that takes no lock and leaves no file behind.

    Without a ``-wal`` file the database was closed cleanly and is fully checkpointed, so it is
    opened ``immutable`` (a plain ``mode=ro`` connection would create -wal/-shm files it cannot
    remove). With one, a live or killed writer's WAL must be read, so ``mode=ro``.
    """
    refuse_database_links(path, action="read through")
    wal = path.with_name(path.name + "-wal")
    query = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    return f"{path.resolve().as_uri()}?{query}"


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection for inspection (see :func:`readonly_uri`)."""
    return sqlite3.connect(readonly_uri(path), uri=True)
