"""The call journal: durable answers, never errors, and statistics derived from its rows."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.journal import Answer, BadRow, Journal
from evoprompt.checkpoint.journal_rows import bad_rows, open_readonly
from evoprompt.checkpoint.journal_schema import JournalUnusable
from evoprompt.llm.types import LLMRequest, LLMResponse, Usage


def answer(text: str = "", prompt: int = 10, completion: int = 5) -> LLMResponse:
    return LLMResponse(text=text, usage=Usage(prompt, completion), model="m")


def put(journal: Journal, key: str, response: LLMResponse, **kw: Any) -> None:
    """Journal an answer as the client does: opaque JSON plus its usage numbers."""
    journal.put(
        key,
        response.to_json(),
        model=response.model,
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
        **kw,
    )


def got(journal: Journal, key: str) -> LLMResponse | None:
    raw = journal.get(key)
    return None if raw is None else LLMResponse.from_json(raw)


@pytest.fixture
def journal() -> Iterator[Journal]:
    in_memory = Journal(None)
    yield in_memory
    in_memory.close()


def test_put_get_roundtrip(journal: Journal) -> None:
    text = LLMResponse(text="positive ✓", usage=Usage(12, 3), model="gpt-x")
    scores = LLMResponse(logprobs=(-0.5, -3.25), usage=Usage(40, 0), model="local")
    put(journal, "k1", text, cost=0.001, attempts=1, fallback=False)
    put(journal, "k2", scores, cost=0.0, attempts=2, fallback=True)
    assert got(journal, "k1") == text
    assert got(journal, "k2") == scores
    assert got(journal, "unknown") is None


def test_failures_are_never_stored_as_answers(journal: Journal) -> None:
    journal.record_failure("k", "m", "HTTP 503", attempts=3)
    assert got(journal, "k") is None
    assert journal.totals() == {"calls": 0, "tokens": 0, "cost": 0}
    stats = journal.stats()
    assert (stats["calls"], stats["succeeded"], stats["failed"]) == (1, 0, 1)


def test_replaying_a_key_counts_once(journal: Journal) -> None:
    for _ in range(3):
        put(journal, "same", answer("a"), cost=0.5, attempts=1, fallback=False)
    assert journal.totals() == {"calls": 1, "tokens": 15, "cost": 0.5}


def test_stats_arithmetic(journal: Journal) -> None:
    put(journal, "a", answer(prompt=10, completion=1), cost=0.25, attempts=1, fallback=False)
    put(journal, "b", answer(prompt=20, completion=2), cost=0.5, attempts=2, fallback=False)
    put(journal, "c", answer(prompt=30, completion=3), cost=1.0, attempts=3, fallback=True)
    journal.record_failure("d", "m", "HTTP 500", attempts=3)
    journal.record_failure("e", "m", "HTTP 401", attempts=1)
    journal.bump("cache_hits")
    journal.bump("cache_hits", 4)
    journal.bump("resent_requests", 2)
    journal.bump("probe_requests", 3)
    assert journal.stats() == {
        "calls": 5,
        "requests": 1 + 2 + 3 + 3 + 1 + 2 + 3,  # attempts, re-sends, probe requests
        "succeeded": 3,
        "failed": 2,
        "retried": (0 + 1 + 2) + (2 + 0),  # attempts beyond the first
        "retried_calls": 3,  # b, c and d needed more than one attempt
        "retried_succeeded": 2,  # b and c of those succeeded
        "retry_success_rate": round(2 / 3, 4),
        "cache_hits": 5,
        "children_rejected": 0,
        "fallback_calls": 1,
        "prompt_tokens": 60,
        "completion_tokens": 6,
        "cost_usd": 1.75,
        "lost_in_flight": 0,
        "resent_requests": 2,
        "outage_probes": 0,
        # nothing set aside by a rollback, nothing inherited from a fork's parent
        "set_aside_calls": 0,
        "set_aside_cost_usd": 0.0,
        "inherited_calls": 0,
        "inherited_cost_usd": 0.0,
        "roles": {},  # these rows name no role
    }
    assert journal.totals() == {"calls": 3, "tokens": 66, "cost": 1.75}


def test_no_retries_means_no_retry_rate(journal: Journal) -> None:
    put(journal, "a", answer(), cost=0.0, attempts=1, fallback=False)
    stats = journal.stats()
    assert stats["retry_success_rate"] is None and stats["retried"] == 0


def test_data_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    first = Journal(path)
    put(first, "k", answer("kept"), cost=0.125, attempts=2, fallback=False)
    first.record_failure("f", "m", "timeout", attempts=3)
    first.bump("cache_hits", 2)
    before = first.stats()
    first.close()

    again = Journal(path)
    try:
        assert got(again, "k") == answer("kept")
        assert got(again, "f") is None
        assert again.stats() == before
        readonly = open_readonly(path)
        assert readonly.execute("SELECT COUNT(*) FROM responses").fetchone() == (1,)
        readonly.close()
    finally:
        again.close()


def test_answers_are_visible_to_another_connection_without_close(tmp_path: Path) -> None:
    """A commit is durable when put() returns: a second process-like reader sees it."""
    path = tmp_path / "journal.sqlite"
    writer = Journal(path)
    put(writer, "k", answer("now"), cost=0.0, attempts=1, fallback=False)
    reader = Journal(path)
    try:
        assert got(reader, "k") == answer("now")
    finally:
        reader.close()
        writer.close()


def test_in_memory_journal_touches_no_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    journal = Journal(None)
    put(journal, "k", answer(), cost=0.0, attempts=1, fallback=False)
    assert got(journal, "k") is not None and list(tmp_path.iterdir()) == []


def test_request_keys_cover_model_and_parameters() -> None:
    base = LLMRequest(kind="chat", model="a", messages=(("user", "hi"),))
    variants = [
        LLMRequest(kind="chat", model="b", messages=(("user", "hi"),)),
        LLMRequest(kind="chat", model="a", messages=(("user", "hi"),), temperature=0.7),
        LLMRequest(kind="chat", model="a", messages=(("user", "hi"),), max_tokens=65),
        LLMRequest(kind="chat", model="a", messages=(("user", "hi"),), site="gen1/child0/try0"),
        base.with_model("b"),
    ]
    keys = {v.key() for v in variants}
    assert base.key() not in keys and len(keys) == 4  # with_model("b") == the first variant
    assert base.key() == LLMRequest(kind="chat", model="a", messages=(("user", "hi"),)).key()


def _forge(path: Path, key: str, payload: str) -> None:
    """What an attacker with write access does: rewrite an answer behind the journal's back."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE responses SET response = ? WHERE key = ?", (payload, key))


def test_a_forged_or_garbled_row_is_refused_set_aside_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    put(journal, "k", answer("positive"), cost=0.0, attempts=1, fallback=False)
    put(journal, "j", answer("negative"), cost=0.0, attempts=1, fallback=False)
    journal.close()
    _forge(path, "k", answer("negative").to_json())
    _forge(path, "j", "{not json")
    with contextlib.closing(open_readonly(path)) as db:
        assert bad_rows(db)[0] == 2
    journal = Journal(path)
    for key in ("k", "j"):
        with pytest.raises(BadRow, match="checksum"):
            journal.get(key)
        journal.reject(key, "fails its checksum")
        assert journal.get(key) is None  # asked again, and the new answer stands
    put(journal, "k", answer("positive"), cost=0.0, attempts=1, fallback=False)
    assert got(journal, "k") == answer("positive")
    journal.close()
    with contextlib.closing(open_readonly(path)) as db:
        assert bad_rows(db)[0] == 0
        assert db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0] == 2


def test_a_journal_without_checksums_is_refused_unless_trusted(tmp_path: Path) -> None:
    """Dropping the checksum column is how an edit would hide: its rows are never trusted
    silently, only on --trust-folder (a journal from before checksums), and verify says so."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    put(journal, "k", answer("positive"), cost=0.0, attempts=1, fallback=False)
    journal.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("ALTER TABLE responses DROP COLUMN checksum")
    with contextlib.closing(open_readonly(path)) as db:
        assert bad_rows(db) == (1, [_NO_COLUMN])
    with pytest.raises(JournalUnusable, match=r"no checksum column .* pass --trust-folder"):
        Journal(path)
    journal = Journal(path, trust_unchecked=True)
    assert got(journal, "k") == answer("positive")
    journal.close()
    assert got(Journal(path), "k") == answer("positive")  # upgraded once: checked from now on


_NO_COLUMN = "the journal has no checksum column (older, or edited): no row can be checked"


def test_a_row_without_a_checksum_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    put(journal, "k", answer("positive"), cost=0.0, attempts=1, fallback=False)
    journal.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE responses SET checksum = NULL")
    with contextlib.closing(open_readonly(path)) as db:
        assert bad_rows(db)[0] == 1
    with pytest.raises(BadRow, match="has no checksum"):
        Journal(path).get("k")


def test_calls_on_the_wire_at_a_crash_are_counted_lost(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    for key in ("answered", "failed", "lost1", "lost2"):
        journal.sent(key)
    put(journal, "answered", answer(), cost=0.0, attempts=1, fallback=False)
    journal.record_failure("failed", "m", "HTTP 500", attempts=3)
    journal.sent("retried")
    journal.settled("retried")  # a failed attempt: nothing billed
    # the process dies here: lost1 and lost2 were on the wire
    with contextlib.closing(open_readonly(path)) as db:
        assert journal_stats_of(db)["lost_in_flight"] == 2
    journal.close()
    reopened = Journal(path)
    stats = reopened.stats()
    assert (stats["lost_in_flight"], stats["calls"]) == (2, 4)
    reopened.close()
    assert Journal(path).stats()["lost_in_flight"] == 2  # folded once, not again


def journal_stats_of(db: sqlite3.Connection) -> dict[str, Any]:
    from evoprompt.checkpoint.journal import journal_stats

    return journal_stats(db)


def test_garbled_and_unwritable_journals_are_told_apart(tmp_path: Path) -> None:
    garbled = tmp_path / "garbled.sqlite"
    garbled.write_bytes(b"not a database!!" * 100)
    with pytest.raises(JournalUnusable, match="garbled"):
        Journal(garbled)


def test_calls_lost_on_the_wire_are_counted_per_role(tmp_path: Path) -> None:
    """Each role's lost calls, from the journal's rows: on the wire at the crash (still
    pending, read by another process) and once folded by the next open."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.write([("s1", "task"), ("s2", "task"), ("w1", "operator"), ("w2", "operator")], [])
    journal.write([], [Answer("s1", answer().to_json(), "m", 10, 5, 0.0, 1, False, "task")])
    journal.record_failure("w1", "m", "HTTP 500", attempts=1, role="operator")
    journal.sent("s3", "task")  # the process dies: s2, s3 and w2 were on the wire
    with contextlib.closing(open_readonly(path)) as db:
        live = journal_stats_of(db)
    journal.close()
    reopened = Journal(path)
    for stats in (live, reopened.stats()):
        roles = stats["roles"]
        assert (roles["task"]["lost_in_flight"], roles["operator"]["lost_in_flight"]) == (2, 1)
        assert stats["lost_in_flight"] == 3
        # a call is a call answered, failed or lost, for a role as for the whole
        assert (roles["task"]["calls"], roles["operator"]["calls"]) == (3, 2)
        assert stats["calls"] == roles["task"]["calls"] + roles["operator"]["calls"]
    reopened.close()
    assert Journal(path).stats()["roles"]["task"]["lost_in_flight"] == 2  # folded once
