"""Group commit: the answers of one event-loop turn share one transaction, and each caller is
released only once its answer is durable."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from evoprompt.checkpoint.group import GroupCommit
from evoprompt.checkpoint.journal import Answer, Journal


def answer(i: int) -> Answer:
    return Answer(f"k{i}", '{"text": "x"}', "m", 3, 1, 0.0, 1, False)


def test_one_transaction_per_turn_and_durable_on_release(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    writes: list[tuple[int, int]] = []
    write = journal.write

    def counted(sent: list[str], answers: list[Answer]) -> None:
        writes.append((len(sent), len(answers)))
        write(sent, answers)

    journal.write = counted  # type: ignore[method-assign]
    group = GroupCommit(journal)

    async def caller(i: int) -> bool:
        await group.sent(f"k{i}")
        await group.put(answer(i))
        other = sqlite3.connect(tmp_path / "journal.sqlite")  # what a crash would leave
        try:
            return other.execute("SELECT 1 FROM responses WHERE key = ?", (f"k{i}",)).fetchone()
        finally:
            other.close()

    async def main() -> list[bool]:
        return await asyncio.gather(*(caller(i) for i in range(20)))

    assert all(asyncio.run(main()))
    assert writes == [(20, 0), (0, 20)]
    assert journal.totals()["calls"] == 20
    assert journal.stats()["lost_in_flight"] == 0


def test_a_failed_write_reaches_every_caller_and_a_cancelled_one_spares_the_rest(
    tmp_path: Path,
) -> None:
    journal = Journal(None)
    group = GroupCommit(journal)

    def full(sent: list[str], answers: list[Answer]) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    async def main() -> None:
        journal.write = full  # type: ignore[method-assign]
        failing = [asyncio.ensure_future(group.put(answer(i))) for i in range(3)]
        results = await asyncio.gather(*failing, return_exceptions=True)
        assert all(isinstance(r, sqlite3.OperationalError) for r in results)
        del journal.write
        with pytest.raises(sqlite3.OperationalError):  # nothing more after a failed write
            await group.put(answer(9))
        group._failure = None  # as a new run would start
        tasks = [asyncio.ensure_future(group.put(answer(i))) for i in range(3)]
        await asyncio.sleep(0)  # all three are waiting on the same turn's commit
        tasks[0].cancel()
        await asyncio.gather(*tasks[1:])
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]

    asyncio.run(main())
    assert journal.totals()["calls"] == 3  # the cancelled caller's answer was written too
