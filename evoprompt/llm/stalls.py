"""A probe of the event loop's stalls, so a latency that measured the client is not read as the
server's.

The client times a request from the event loop, so its latency includes any time the loop could
not run: a background thread holding the GIL (the verdict's scipy import initialising its C
extensions), a synchronous metric on long outputs, a garbage collection. Read as the server's
latency, such a stall looks like queueing, and the limiter would cut a window the server never
asked it to cut (measured: the scipy import at a test phase's start cut 32 slots to 1, and the
test phase ran at 0.6x pace). Subtracting the stall is no fix: a stall overlaps the server's own
work, so the remainder underestimates it, and the limiter's unloaded latency is a minimum.

So a timer every :data:`TICK` seconds measures how late the loop runs it, the sum of that
lateness is time the loop spent stalled, and a request during which the loop stalled for more
than :data:`MATERIAL` of its latency is not measured at all. A queueing server delays answers
without delaying the loop, so it still reads as queueing.
"""

from __future__ import annotations

import asyncio
import time

TICK = 0.02  # seconds between probes: 50 wake-ups a second, noise against a run's CPU
MATERIAL = 0.1  # share of a latency that, stalled, makes it the client's rather than the server's

Mark = tuple[float, float]  # (monotonic seconds, stalled seconds) when a request went out


class StallClock:
    """Time requests, leaving out those the running event loop stalled through."""

    def __init__(self) -> None:
        self.stalled = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probing: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> Mark:
        """Mark a request's start; the first mark on an event loop starts probing it."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._probing is not None:
                self._probing.cancel()  # an earlier loop's chain: one loop is probed at a time
            self._loop = loop
            self._schedule()
        return time.monotonic(), self.stalled

    def latency(self, mark: Mark) -> float | None:
        """Seconds since ``mark``, or None when the loop stalled for a material share of them."""
        started, stalled = mark
        elapsed = time.monotonic() - started
        return None if self.stalled - stalled > MATERIAL * elapsed else elapsed

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + TICK
        self._probing = self._loop.call_at(self._due, self._probe)

    def _probe(self) -> None:
        assert self._loop is not None
        self.stalled += max(0.0, self._loop.time() - self._due)
        self._schedule()
