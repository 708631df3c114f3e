"""Private asyncio helpers shared by the evaluation and evolution phases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from evoprompt.llm.errors import Draining

T = TypeVar("T")


async def gather_or_cancel(coroutines: list[Awaitable[T]]) -> list[T]:
    """Like ``asyncio.gather``, but the first failure (or a cancellation) stops the others.

    A run must stop promptly on a fatal error or Ctrl+C, and must not leave orphan requests
    behind to race the checkpoint that is saved next. A :class:`Draining` stop (a budget, or
    Ctrl+C) is gentler: requests already on the wire are let finish (each worker stops at its
    next call), so every call the endpoint bills is also in the journal.
    """
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    if not tasks:
        return []
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failures = [t.exception() for t in done if t.exception() is not None]
        if failures and all(isinstance(f, Draining) for f in failures) and pending:
            await asyncio.wait(pending)
        found = [e for t in tasks if t.done() and (e := t.exception()) is not None]
        if found:  # a real failure outranks a stop it happened during
            raise next((f for f in found if not isinstance(f, Draining)), found[0])
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
