"""Private asyncio helpers shared by the evaluation and evolution phases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def gather_or_cancel(coroutines: list[Awaitable[T]]) -> list[T]:
    """Like ``asyncio.gather``, but the first failure (or a cancellation) stops the others.

    A run must stop promptly on a fatal error or Ctrl+C, and must not leave orphan requests
    behind to race the checkpoint that is saved next.
    """
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    if not tasks:
        return []
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
