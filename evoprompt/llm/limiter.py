"""Admission control for requests: adaptive concurrency (AIMD) plus optional rpm/tpm limits.

The concurrency limit starts at 1, so a wrong key or URL costs one request rather than
``concurrency`` of them. The first success opens an initial window of ``INITIAL_WINDOW``
(TCP's initial window); until the first 429 the limit is then in slow start: each success adds
one, so it doubles every round trip and reaches the configured maximum within a few (jumping
straight to the maximum would send a burst a throttling server refuses). A 429
halves it (once per "window": answers to requests sent before the cut do not cut again), and
every ``2 * limit`` successes add one back, never above the maximum: slow enough that a server
which refuses above N in flight answers fewer than one request in ten with a 429.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter

INITIAL_WINDOW = 8


class AdaptiveLimiter:
    def __init__(self, maximum: int, *, rpm: int = 0, tpm: int = 0):
        self.maximum = maximum
        self.limit = 1
        self.in_flight = 0
        self.peak = 0
        self._slow_start = True
        self._epoch = 0
        self._credit = 0  # successes since the limit last changed
        self._changed = asyncio.Condition()
        self._rpm = AsyncLimiter(rpm, 60) if rpm else None
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

    def succeeded(self) -> None:
        """Called inside the slot: its release wakes the waiters that a raised limit admits."""
        if self._slow_start:
            self.limit = min(self.maximum, max(self.limit + 1, INITIAL_WINDOW))
        elif self.limit < self.maximum and self.in_flight >= self.limit:
            # Grow only while the limit is what holds requests back: successes at low demand
            # say nothing about what the server can take (as TCP's congestion-window validation).
            # An integer count: summing 1 / (2 * limit) in floats drifts (10 x 0.1 < 1).
            self._credit += 1
            if self._credit >= 2 * self.limit:
                self._credit = 0
                self.limit += 1

    def rate_limited(self, epoch: int) -> None:
        if epoch == self._epoch:
            self._epoch += 1
            self.limit = max(1, self.limit // 2)
            self._credit = 0
            self._slow_start = False
