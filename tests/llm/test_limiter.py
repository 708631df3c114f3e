"""AdaptiveLimiter: one probe request, slow start; halve on 429s; grow back slowly; never over."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from evoprompt.llm.limiter import INITIAL_WINDOW, MIN_WAIT, AdaptiveLimiter


def opened(maximum: int) -> AdaptiveLimiter:
    limiter = AdaptiveLimiter(maximum)
    while limiter.limit < maximum:
        limiter.succeeded()
    return limiter


def test_starts_at_one_then_slow_starts_to_the_maximum() -> None:
    limiter = AdaptiveLimiter(12)
    assert limiter.limit == 1
    limiter.succeeded()  # the probe worked: open the initial window
    assert limiter.limit == INITIAL_WINDOW
    for expected in range(INITIAL_WINDOW + 1, 13):
        limiter.succeeded()  # one more slot per success: doubling per round trip
        assert limiter.limit == expected
    limiter.succeeded()
    assert limiter.limit == 12  # never above the maximum
    assert opened(3).limit == 3  # the initial window never exceeds the maximum


def test_only_one_request_is_in_flight_before_the_first_success() -> None:
    async def scenario() -> tuple[list[int], AdaptiveLimiter]:
        limiter = AdaptiveLimiter(6)
        during: list[int] = []  # in flight while each request is on the wire

        async def request() -> None:
            async with limiter.slot():
                await asyncio.sleep(0.01)
                during.append(limiter.in_flight)
                limiter.succeeded()

        await asyncio.gather(*(request() for _ in range(20)))
        return during, limiter

    during, limiter = asyncio.run(scenario())
    assert during[0] == 1  # the probe ran alone although 19 others were waiting
    assert max(during[1:]) == 6 == limiter.peak


def test_rate_limited_halves_once_per_window() -> None:
    limiter = opened(16)
    limiter.rate_limited(epoch=0)
    assert limiter.limit == 8
    limiter.rate_limited(epoch=0)  # an answer to a request sent before the cut
    assert limiter.limit == 8
    limiter.rate_limited(epoch=1)
    assert limiter.limit == 4
    for epoch in range(2, 7):
        limiter.rate_limited(epoch=epoch)
    assert limiter.limit == 1  # never below one


def test_a_429_before_the_first_success_keeps_the_limiter_shut() -> None:
    limiter = AdaptiveLimiter(8)
    limiter.rate_limited(epoch=0)
    limiter.succeeded()
    assert limiter.limit == 1  # grows slowly from here, no jump to the maximum


def succeed_saturated(limiter: AdaptiveLimiter, times: int) -> None:
    """``times`` successes, each reported while every allowed slot is in use."""

    async def scenario() -> None:
        for _ in range(times):
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(limiter.limit):
                    await stack.enter_async_context(limiter.slot())
                limiter.succeeded()

    asyncio.run(scenario())


def test_growth_is_one_step_per_two_limit_saturated_successes() -> None:
    limiter = opened(8)
    limiter.rate_limited(0)
    limiter.rate_limited(1)
    assert limiter.limit == 2
    total = 0
    for limit in (2, 3, 4, 5, 6, 7):
        succeed_saturated(limiter, 2 * limit - 1)
        assert limiter.limit == limit
        succeed_saturated(limiter, 1)
        total += 2 * limit
        assert limiter.limit == limit + 1
    assert limiter.limit == 8 and total == 54
    succeed_saturated(limiter, 40)
    assert limiter.limit == 8  # never above the maximum


def test_successes_at_low_demand_do_not_grow_the_limit() -> None:
    limiter = opened(8)
    limiter.rate_limited(0)  # 4
    for _ in range(100):
        limiter.succeeded()  # nothing in flight: says nothing about capacity
    assert limiter.limit == 4


def test_a_429_resets_partial_growth() -> None:
    limiter = opened(8)
    limiter.rate_limited(0)  # 4
    succeed_saturated(limiter, 7)
    limiter.rate_limited(1)  # 2, credit gone
    succeed_saturated(limiter, 3)
    assert limiter.limit == 2
    succeed_saturated(limiter, 1)
    assert limiter.limit == 3


@pytest.mark.parametrize("storm", [False, True])
def test_in_flight_never_exceeds_the_limit(storm: bool) -> None:
    async def scenario() -> tuple[AdaptiveLimiter, list[tuple[int, int]]]:
        limiter = AdaptiveLimiter(5)
        admitted: list[tuple[int, int]] = []
        rolls = random.Random(1)

        async def request() -> None:
            async with limiter.slot() as window:
                admitted.append((limiter.in_flight, limiter.limit))
                await asyncio.sleep(rolls.random() * 0.002)
                if storm and rolls.random() < 0.3:
                    limiter.rate_limited(window)
                else:
                    limiter.succeeded()

        await asyncio.gather(*(request() for _ in range(200)))
        return limiter, admitted

    limiter, admitted = asyncio.run(scenario())
    assert len(admitted) == 200
    assert all(in_flight <= limit <= 5 for in_flight, limit in admitted)
    assert limiter.peak <= 5 and limiter.in_flight == 0
    if storm:
        assert min(limit for _, limit in admitted[10:]) < 5  # it backed off
    else:
        assert limiter.peak == 5


def test_a_server_answering_one_request_at_a_time_gets_about_one() -> None:
    """Latency grows with what is in flight, throughput does not: the limit settles near 1."""
    from evoprompt.checkpoint.journal import Journal
    from evoprompt.llm.client import LLMClient
    from evoprompt.llm.openai_http import OpenAIBackend
    from evoprompt.llm.retry import RetryPolicy
    from evoprompt.llm.types import LLMRequest
    from evoprompt.testing.server import FakeLLMServer

    async def scenario(url: str) -> AdaptiveLimiter:
        limiter = AdaptiveLimiter(16)
        # The timeout is far above what a full window of 16 queued requests waits (4.8 s), so
        # that a loaded machine's pauses are not taken for lost requests.
        backend = OpenAIBackend(url, "k", timeout=15.0, concurrency=16)
        client = LLMClient(backend, Journal(None), policy=RetryPolicy(1, 0.01), limiter=limiter)
        try:
            for start in range(0, 60, 20):  # three waves of demand, as generations send
                asks = [
                    LLMRequest(kind="chat", model="m", messages=(("user", f"q{i}"),))
                    for i in range(start, start + 20)
                ]
                await asyncio.gather(*(client.call(ask) for ask in asks))
        finally:
            await client.aclose()
        return limiter

    with FakeLLMServer() as server:
        # A pace well above a loaded machine's scheduling noise: the request sent alone sets
        # the unloaded latency, and at 0.04 s a descheduled client or server thread made it
        # look as slow as a queue of ten (the limit then never came down under load).
        server.set_faults(serial=True, latency=0.3)
        limiter = asyncio.run(scenario(server.url))
        stats = server.stats()
    assert stats["requests"] == stats["answered"] == 60  # nothing timed out or was re-sent
    assert limiter.limit <= 2  # settled near one
    assert limiter.learned() == {"limit": limiter.limit, "peak": limiter.peak, "maximum": 16}


def test_a_timeout_while_saturated_is_congestion_first() -> None:
    limiter = opened(8)
    limiter.in_flight = 5
    assert limiter.congested(epoch=0) and limiter.limit == 4  # shrink, and send it again
    limiter.in_flight = 1
    limiter.rate_limited(epoch=1)
    limiter.rate_limited(epoch=2)
    assert limiter.limit == 1
    assert not limiter.congested(epoch=3)  # alone at one slot: a real failure


def test_queueing_latency_stops_growth_and_cuts() -> None:
    limiter = opened(16)
    limiter.rate_limited(0)  # 8, out of slow start
    for _ in range(8):
        limiter.succeeded(0.1, "chat")  # unloaded latency
    limit = limiter.in_flight = limiter.limit  # saturated: nothing is measured alone
    for _ in range(limit):
        limiter.succeeded(0.1 * limit, "chat")  # each waited for all the others
    assert limiter.limit == 1  # limit * HEADROOM / ratio: what the server serves at once
    for _ in range(3):
        limiter.succeeded(0.1 * limit, "chat")  # still queued: no growth
    assert limiter.limit == 1


def test_a_queue_of_milliseconds_is_not_worth_a_cut() -> None:
    """A loopback server answering in 1 ms alone and 8 ms with 8 in flight queues 8x, but the
    wait costs no timeout: the window stays (the CPU benchmark's zero-latency endpoint had it
    cut to 3, and the runner then spent more CPU per call than with 32 in flight)."""
    limiter = opened(16)
    limiter.rate_limited(0)  # 8, out of slow start
    for _ in range(8):
        limiter.succeeded(0.001, "chat")
    limiter.in_flight = limiter.limit
    for _ in range(3 * limiter.limit):
        limiter.succeeded(0.001 + MIN_WAIT / 2, "chat")
    assert limiter.limit > 8  # not cut, and still growing
    for _ in range(2 * limiter.limit):
        limiter.succeeded(0.001 + 2 * MIN_WAIT, "chat")  # a real wait now
    assert limiter.limit < 8


@pytest.mark.parametrize(("learned", "slow_start"), [(5, False), (16, True), (40, True)])
def test_a_resume_opens_the_learned_window_after_one_request(
    learned: int, slow_start: bool
) -> None:
    limiter = AdaptiveLimiter(16, learned=learned)
    assert limiter.limit == 1  # the first request still goes alone: the key may be wrong now
    limiter.succeeded()
    assert limiter.limit == min(learned, 16)
    limiter.succeeded()  # a window the server had cut grows by congestion avoidance only
    assert limiter.limit == (min(learned + 1, 16) if slow_start else learned)


def test_a_429_before_the_first_success_forgets_the_learned_window() -> None:
    limiter = AdaptiveLimiter(16, learned=12)
    limiter.rate_limited(limiter._epoch)
    limiter.succeeded()
    assert limiter.limit == 1  # cut, then additive growth: the old window is not reopened


def test_a_kind_not_answered_yet_goes_alone_and_its_first_answer_gives_its_pace() -> None:
    async def scenario() -> tuple[list[int], float | None]:
        limiter = opened(6)
        during: list[int] = []  # "slow" requests in flight while each is on the wire
        slow = 0

        async def request(kind: str) -> None:
            nonlocal slow
            async with limiter.slot(kind=kind) as _:
                slow += kind == "slow"
                await asyncio.sleep(0.02)
                during.append(slow)
                limiter.succeeded(None, kind, (asyncio.get_running_loop().time() - 0.5, 0.0))
                slow -= kind == "slow"

        assert limiter.pace("slow") is None
        await asyncio.gather(*(request("slow") for _ in range(6)))
        return during, limiter.pace("slow")

    during, pace = asyncio.run(scenario())
    assert during[0] == 1 and max(during) > 1  # the first alone, then the window
    assert pace is not None and pace >= 0.5  # timed from its mark where the clock left it out


def test_a_window_that_queued_is_not_tried_again() -> None:
    limiter = opened(8)
    limiter.succeeded(0.1, "k")  # alone: the unloaded latency
    limiter.in_flight = 2
    for _ in range(20):  # rounds of answers that each waited for a full request ahead
        limiter.succeeded(0.2, "k")
    assert limiter.limit == 1  # a server that serves one at a time
    limiter.in_flight = 1
    for _ in range(50):  # answers alone: no queue, yet the window that queued stays closed
        limiter.succeeded(0.1, "k")
    assert limiter.limit == 1
