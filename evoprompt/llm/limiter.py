"""Admission control for requests: adaptive concurrency (AIMD + latency) plus rpm/tpm limits.

The concurrency limit starts at 1, so a wrong key or URL costs one request rather than
``concurrency`` of them. The first success opens an initial window of ``INITIAL_WINDOW``
(TCP's initial window); until the first cut the limit is then in slow start: each success adds
one, so it doubles every round trip and reaches the configured maximum within a few (jumping
straight to the maximum would send a burst a throttling server refuses). A 429
halves it (once per "window": answers to requests sent before the cut do not cut again), and
every ``2 * limit`` successes add one back, never above the maximum: slow enough that a server
which refuses above N in flight answers fewer than one request in ten with a 429.

Servers that queue instead of refusing (llama.cpp's serves one request at a time) never send a
429: their latency grows with what is in flight while throughput stays flat (Little's law). So
each success's latency is compared with the unloaded latency of its kind of request (the least
seen, pulled towards what a request alone measures; a request the client's own event loop
stalled through is not measured, see :mod:`evoprompt.llm.stalls`); once per round of ``limit``
answers, a median ratio above ``QUEUED`` means requests mostly waited (unless the median wait
is under ``MIN_WAIT``: a queue of milliseconds, as a loopback server or a batching one builds,
costs no timeout and is not worth the slots a cut gives away): the limit shrinks to what
the server serves in parallel (``limit / ratio``, as TCP Vegas) and stops growing. A timeout
while other requests are in flight is congestion too (:meth:`congested`): the window shrinks and
the call is sent again before a timeout counts as a failure.

A resumed experiment passes the window its last run had ``learned``: the first request still
goes alone (the key or URL may have changed), and its success opens that window at once instead
of ramping up again; a window below the maximum was cut by the server, so growth resumes from it
in congestion avoidance, not slow start.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter

from evoprompt.llm.stalls import StallClock

INITIAL_WINDOW = 10  # TCP's since RFC 6928: a population of 10 breeds in one round trip
QUEUED = 1.5  # median latency / unloaded latency above which requests are queueing
MIN_WAIT = 0.02  # seconds of median queueing below which a round never counts as queued
HEADROOM = 1.2  # Vegas-style cut: limit * HEADROOM / ratio, so a little queue remains
ALONE_WEIGHT = 0.3  # how fast the unloaded latency follows a request measured alone


class AdaptiveLimiter:
    def __init__(self, maximum: int, *, rpm: int = 0, tpm: int = 0, learned: int = 0):
        self.maximum = maximum
        self.limit = 1
        self._learned = min(learned, maximum)
        self.in_flight = 0
        self.peak = 0
        self._slow_start = True
        self._epoch = 0
        self._credit = 0  # successes since the limit last changed
        self._unloaded: dict[str, float] = {}  # kind of request -> latency with no queue
        self._round: list[tuple[float, float]] = []  # (latency, unloaded) this round
        self._queueing = False  # the last round's verdict: no growth while requests wait
        self._changed = asyncio.Condition()
        self._rpm = AsyncLimiter(rpm, 60) if rpm else None
        self.clock = StallClock()  # times requests for succeeded(), the client's stalls left out
        self._tpm = AsyncLimiter(tpm, 60) if tpm else None

    @asynccontextmanager
    async def slot(self, tokens: int = 0) -> AsyncIterator[int]:
        """Hold one request slot; yields the window the request was admitted in."""
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:
            await self._tpm.acquire(min(tokens, self._tpm.max_rate))
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield self._epoch
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def succeeded(self, latency: float | None = None, kind: str = "") -> None:
        """Called inside the slot: its release wakes the waiters that a raised limit admits.

        ``latency`` (seconds on the wire) of a ``kind`` of request feeds the queue detector;
        without it only the count of successes drives the limit.
        """
        if latency is not None and self._queued(latency, kind):
            return
        if self._queueing:
            return
        if self._learned:
            self.limit, self._learned = self._learned, 0
            self._slow_start = self.limit >= self.maximum
        elif self._slow_start:
            self.limit = min(self.maximum, max(self.limit + 1, INITIAL_WINDOW))
        elif self.limit < self.maximum and self.in_flight >= self.limit:
            # Grow only while the limit is what holds requests back: successes at low demand
            # say nothing about what the server can take (as TCP's congestion-window validation).
            # An integer count: summing 1 / (2 * limit) in floats drifts (10 x 0.1 < 1).
            self._credit += 1
            if self._credit >= 2 * self.limit:
                self._credit = 0
                self.limit += 1

    def _queued(self, latency: float, kind: str) -> bool:
        """Record one latency; True when it closed a round that found requests queueing."""
        latency = max(latency, 1e-3)
        base = self._unloaded.get(kind, latency)
        if self.in_flight <= 1:
            base += ALONE_WEIGHT * (latency - base)  # alone: what the server takes, no queue
        self._unloaded[kind] = base = min(base, latency)
        self._round.append((latency, base))
        if len(self._round) < max(self.limit, 3):
            return False
        ratio = statistics.median(lat / unloaded for lat, unloaded in self._round)
        wait = statistics.median(lat - unloaded for lat, unloaded in self._round)
        self._round.clear()
        self._queueing = ratio > QUEUED and wait >= MIN_WAIT
        if self._queueing and self.limit > 1:
            self._cut(max(1, min(self.limit - 1, int(self.limit * HEADROOM / ratio))))
        return self._queueing

    def _cut(self, limit: int) -> None:
        self._epoch += 1
        self._learned = 0  # the server pushes back now: what an earlier run learned is stale
        self.limit = limit
        self._credit = 0
        self._slow_start = False

    def rate_limited(self, epoch: int) -> None:
        if epoch == self._epoch:
            self._cut(max(1, self.limit // 2))

    def congested(self, epoch: int) -> bool:
        """A timeout: True when others were in flight (the wait was a queue), after halving."""
        if self.in_flight <= 1 and self.limit <= 1:
            return False
        if epoch == self._epoch:
            self._cut(max(1, self.limit // 2))
        return True

    def learned(self) -> dict[str, int]:
        """What status shows: the limit now, the most in flight at once, the configured cap."""
        return {"limit": self.limit, "peak": self.peak, "maximum": self.maximum}
