"""Riding out an endpoint outage: pause every call, probe with growing waits, go on or give up.

A call whose retries ran out does not stop an unattended run at once when the endpoint has
answered before in this run (a dropped network, a restarting server): the first such call
closes the gate (no new attempt starts), probes the endpoint with its own request at growing
intervals, and opens the gate when a probe is answered; the other calls that ran out meanwhile
wait for that and are sent again. Only an outage longer than ``limit`` seconds ends the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from evoprompt.llm.errors import LLMError, RetriesExhausted

T = TypeVar("T")
ProbeListener = Callable[[int, float, float, str], None]
"""Called before each probe with (probe number, seconds down so far, limit, reason)."""


class OutageTooLong(RetriesExhausted):
    """The endpoint stayed away longer than ``--max-outage``."""

    def __init__(self, last: LLMError, probes: int, seconds: float):
        super().__init__(last, probes)
        self.seconds = seconds


def outage_notice(probe: int, down_s: float, limit: float, reason: str) -> str:
    """The one wording of a probe, wherever it is shown."""
    return (
        f"endpoint unreachable for {down_s:.0f}s ({reason}); all calls paused, probe {probe} "
        f"(giving up after {limit:.0f}s)"
    )


class OutageGate:
    def __init__(
        self,
        limit: float,
        wait: Callable[[int], float],
        on_probe: ProbeListener | None = None,
    ):
        self.limit = limit
        self.wait = wait  # seconds before probe n (n = 0, 1, ...)
        self.on_probe = on_probe
        self._open = asyncio.Event()
        self._open.set()
        self._outage: asyncio.Future[None] | None = None
        # The endpoint has answered an attempt in this run (by any client sharing the gate):
        # only then is a call whose retries ran out taken for an outage to ride.
        self.reached = False

    async def passed(self) -> None:
        """Return once no outage is being ridden out."""
        await self._open.wait()

    async def ride(self, probe: Callable[[], Awaitable[T]], failed: RetriesExhausted) -> T | None:
        """Wait out the outage ``failed`` ran into: the probe's answer when this call led the
        probing, None when another call did (send again). Raises OutageTooLong past the limit."""
        if self._outage is not None:
            await asyncio.shield(self._outage)
            return None
        outage = self._outage = asyncio.get_running_loop().create_future()
        outage.add_done_callback(_mark_retrieved)
        self._open.clear()
        try:
            answer = await self._probe(probe, failed.last)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                outage.cancel()
            else:
                outage.set_exception(exc)
            raise
        else:
            outage.set_result(None)
            return answer
        finally:
            self._outage = None
            self._open.set()

    async def _probe(self, probe: Callable[[], Awaitable[T]], last: LLMError) -> T:
        started = time.monotonic()
        number = 0
        while True:
            down = time.monotonic() - started
            if down >= self.limit:
                raise OutageTooLong(last, number, down)
            number += 1
            if self.on_probe is not None:
                self.on_probe(number, down, self.limit, last.reason)
            await asyncio.sleep(min(self.wait(number - 1), self.limit - down))
            try:
                return await probe()
            except LLMError as exc:
                if not exc.retryable:
                    raise
                last = exc


def _mark_retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
