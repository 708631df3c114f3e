"""StallClock: a request the client's own event loop stalled through is not measured, so a
client-side stall never reads as the server's queue and never cuts the limiter's window."""

from __future__ import annotations

import asyncio
import time

from evoprompt.checkpoint.journal import Journal
from evoprompt.llm.client import LLMClient
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.openai_http import OpenAIBackend
from evoprompt.llm.retry import RetryPolicy
from evoprompt.llm.stalls import StallClock
from evoprompt.llm.types import LLMRequest
from evoprompt.testing.server import FakeLLMServer


def test_a_wait_is_measured_and_a_stall_is_not() -> None:
    async def scenario() -> tuple[float | None, float | None, float]:
        clock = StallClock()
        mark = clock.start()
        await asyncio.sleep(0.1)  # the loop runs: time the server could have taken
        waited = clock.latency(mark)
        mark = clock.start()
        await asyncio.sleep(0.03)  # let a probe come due
        time.sleep(0.2)  # the loop cannot run: a GIL-holding import, a synchronous metric
        await asyncio.sleep(0.03)
        return waited, clock.latency(mark), clock.stalled

    # A loaded machine can deschedule the whole process during the plain wait, which the clock
    # rightly counts as a stall: the wait must be measured on at least one of a few tries, the
    # blocking sleep must be left out on every one.
    measured = []
    for _ in range(4):
        waited, stalled_through, stalled = asyncio.run(scenario())
        assert stalled_through is None
        assert stalled >= 0.15
        measured.append(waited)
        if waited is not None:
            break
    assert any(w is not None and 0.1 <= w < 0.5 for w in measured), measured


def test_a_client_stall_does_not_cut_the_window() -> None:
    """Every request in flight during a 0.4 s stall of the loop comes back 8x late; a server
    that queued them would look the same without the stall probe."""

    async def scenario(url: str) -> AdaptiveLimiter:
        limiter = AdaptiveLimiter(8)
        backend = OpenAIBackend(url, "k", timeout=5.0, concurrency=8)
        client = LLMClient(backend, Journal(None), policy=RetryPolicy(1, 0.01), limiter=limiter)

        async def stall() -> None:
            await asyncio.sleep(0.3)
            time.sleep(0.4)

        asks = [
            LLMRequest(kind="chat", model="m", messages=(("user", f"q{i}"),)) for i in range(80)
        ]
        try:
            await asyncio.gather(stall(), *(client.call(ask) for ask in asks))
        finally:
            await client.aclose()
        return limiter

    with FakeLLMServer() as server:
        server.set_faults(latency=0.05)
        limiter = asyncio.run(scenario(server.url))
    assert limiter.peak == 8
    assert limiter.limit == 8  # a queue the server did not have cut nothing
