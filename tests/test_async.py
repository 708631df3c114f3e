"""gather_or_cancel: the first failure stops the rest, a stop (Draining) lets the others
finish first, and a real failure met meanwhile is the one raised."""

from __future__ import annotations

import asyncio

import pytest

from evoprompt._async import gather_or_cancel
from evoprompt.llm.errors import BudgetExceeded, FatalError


async def stop() -> None:
    raise BudgetExceeded("budget")


async def fail_later(finished: list[str]) -> None:
    await asyncio.sleep(0.01)
    finished.append("failing")
    raise FatalError("the endpoint refused", hint="check it")


async def finish(finished: list[str]) -> str:
    await asyncio.sleep(0.01)
    finished.append("finished")
    return "done"


def test_a_stop_lets_the_others_finish_then_is_raised() -> None:
    finished: list[str] = []
    with pytest.raises(BudgetExceeded):
        asyncio.run(gather_or_cancel([stop(), finish(finished)]))
    assert finished == ["finished"]


def test_a_failure_during_a_stop_is_the_one_raised() -> None:
    """A budget stop in one task, then an endpoint error in another (breeding, say): the run
    must report the error, not the budget."""
    finished: list[str] = []
    with pytest.raises(FatalError, match="refused"):
        asyncio.run(gather_or_cancel([stop(), fail_later(finished), finish(finished)]))
    assert sorted(finished) == ["failing", "finished"]


def test_a_failure_cancels_the_others() -> None:
    cancelled: list[bool] = []

    async def wait_forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def fail() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(gather_or_cancel([wait_forever(), fail()]))
    assert cancelled == [True]
