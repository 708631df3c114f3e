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
the server serves in parallel (``limit / ratio``, as TCP Vegas) and stops growing; a window
that queued is not tried again in the run (growth stops below it), so a server that serves one
request at a time is held at 1 instead of probed at 2 over and over. A timeout
while other requests are in flight is congestion too (:meth:`congested`): the window shrinks and
the call is sent again before a timeout counts as a failure.

A kind of request not answered yet in this run goes alone (``slot``'s ``kind``): its first
answer gives the server's pace for it (:meth:`pace`) before a window of them can queue on a
server that serves one at a time, and the client waits for a queued request in proportion to
that pace rather than abandon it at the timeout while the server goes on computing it (a
log-likelihood request can take 26-52 s on llama.cpp's server, near the 60 s timeout).

A resumed experiment passes the window its last run had ``learned``: the first request still
goes alone (the key or URL may have changed), and its success opens that window at once instead
of ramping up again; a window below the maximum was cut by the server, so growth resumes from it
in congestion avoidance, not slow start.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter

from evoprompt.llm.stalls import Mark, StallClock

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
        # kind -> seconds its first answer took, stalls and all (a pace until one is measured)
        self._first: dict[str, float] = {}
        self._learning: set[str] = set()  # kinds whose one request is on the wire
        self._round: list[tuple[float, float]] = []  # (latency, unloaded) this round
        self._queueing = False  # the last round's verdict: no growth while requests wait
        self._ceiling = maximum + 1  # the least window found queueing: growth stays below it
        self._changed = asyncio.Condition()
        self._rpm = AsyncLimiter(rpm, 60) if rpm else None
        self.clock = StallClock()  # times requests for succeeded(), the client's stalls left out
        self._tpm = AsyncLimiter(tpm, 60) if tpm else None

    @asynccontextmanager
    async def slot(self, tokens: int = 0, kind: str = "") -> AsyncIterator[int]:
        """Hold one request slot; yields the window the request was admitted in. A ``kind``
        not answered yet in this run goes alone (see the module's docstring)."""
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:
            await self._tpm.acquire(min(tokens, self._tpm.max_rate))
        learning = False
        async with self._changed:
            await self._changed.wait_for(lambda: self._admits(kind))
            if kind and kind not in self._first:
                self._learning.add(kind)
                learning = True
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield self._epoch
        finally:
            async with self._changed:
                self.in_flight -= 1
                if learning:
                    self._learning.discard(kind)
                self._changed.notify_all()

    def _admits(self, kind: str) -> bool:
        if self.in_flight >= self.limit:
            return False
        return not kind or kind in self._first or kind not in self._learning

    def pace(self, kind: str) -> float | None:
        """Seconds the server takes for ``kind`` of request with no queue, once answered."""
        return self._unloaded.get(kind) or self._first.get(kind)

    def succeeded(
        self, latency: float | None = None, kind: str = "", sent: Mark | None = None
    ) -> None:
        """Called inside the slot: its release wakes the waiters that a raised limit admits.

        ``latency`` (seconds on the wire) of a ``kind`` of request feeds the queue detector;
        without it only the count of successes drives the limit. ``sent`` (the request's
        mark) gives the first answer of a kind a pace even where the clock left it out.
        """
        if kind and kind not in self._first:  # sent: its mark, for a pace the clock left out
            self._first[kind] = latency or (time.monotonic() - sent[0] if sent else 0.0)
        if latency is not None and self._queued(latency, kind):
            return
        if self._queueing:
            return
        if self._learned:
            self.limit, self._learned = self._learned, 0
            self._slow_start = self.limit >= self.maximum
        elif self._slow_start:
            self.limit = min(self.maximum, max(self.limit + 1, INITIAL_WINDOW))
        elif self.limit < min(self.maximum, self._ceiling - 1) and self.in_flight >= self.limit:
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
            self._ceiling = min(self._ceiling, self.limit)
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
