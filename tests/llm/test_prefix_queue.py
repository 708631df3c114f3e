"""The local model's queue: calls sharing a prompt go back to back, none waits for ever, and a
cancelled call neither keeps its place nor the turn."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from evoprompt.llm.prefix_queue import MAX_PASSED, PrefixQueue


async def served(queue: PrefixQueue, prompts: list[str]) -> list[str]:
    """The order ``prompts`` get their turns in, all queued while an earlier call runs."""
    order: list[str] = []
    release = asyncio.Event()

    async def first() -> None:
        async with queue.turn(prompts[0]):
            await release.wait()
            order.append(prompts[0])

    async def call(prompt: str) -> None:
        async with queue.turn(prompt):
            order.append(prompt)
            await asyncio.sleep(0)

    running = asyncio.ensure_future(first())
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(call(p)) for p in prompts[1:]]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(running, *rest)
    return order


def test_calls_of_one_prompt_go_back_to_back() -> None:
    a, b, c = (f"Instruction {x}.\n\nInput: " for x in "ABC")
    arrivals = [a + "0", b + "0", c + "0", a + "1", b + "1", c + "1", a + "2", b + "2"]
    order = asyncio.run(served(PrefixQueue(), arrivals))
    assert sorted(order) == sorted(arrivals)
    prompts = [p[:14] for p in order]
    switches = sum(x != y for x, y in itertools.pairwise(prompts))
    assert switches == 2  # A A A, then B B B (first to come of the rest), then C C
    assert order[:3] == [a + "0", a + "1", a + "2"]
    assert order[3] == b + "0"


def test_a_call_passed_over_goes_next_after_max_passed() -> None:
    loner = "Something else entirely"
    same = [f"Instruction A.\n\nInput: {i}" for i in range(3 * MAX_PASSED)]
    order = asyncio.run(served(PrefixQueue(), [same[0], loner, *same[1:]]))
    assert order.index(loner) == MAX_PASSED + 1  # overtaken MAX_PASSED times, then served


def test_a_cancelled_waiter_leaves_and_a_cancelled_holder_hands_the_turn_on() -> None:
    async def scenario() -> list[str]:
        queue = PrefixQueue()
        order: list[str] = []
        release = asyncio.Event()

        async def call(prompt: str) -> None:
            async with queue.turn(prompt):
                order.append(prompt)

        async def holder() -> None:
            async with queue.turn("a"):
                order.append("a")
                await release.wait()
            handed.cancel()  # it was just handed the turn and has not run yet

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0)
        gone = asyncio.ensure_future(call("a gone"))
        handed = asyncio.ensure_future(call("b handed"))
        last = asyncio.ensure_future(call("c"))
        await asyncio.sleep(0)
        gone.cancel()  # cancelled while waiting: it leaves the queue
        await asyncio.sleep(0)
        release.set()
        await first
        await asyncio.wait_for(last, timeout=30)  # the turn went on from "b handed" to "c"
        for task in (gone, handed):
            with pytest.raises(asyncio.CancelledError):
                await task
        return order

    assert asyncio.run(scenario()) == ["a", "c"]


def test_closing_goes_ahead_of_every_queued_call() -> None:
    """Closing the model at a stop must not wait behind the calls still queued (it did, by
    sharing no prefix with them: a second Ctrl+C then waited for MAX_PASSED calls)."""

    async def run() -> list[str]:
        queue, order, release = PrefixQueue(), list[str](), asyncio.Event()

        async def holder() -> None:
            async with queue.turn("A0"):
                await release.wait()

        async def call(prompt: str, first: bool = False) -> None:
            async with queue.turn(prompt, first=first):
                order.append(prompt or "close")
                await asyncio.sleep(0)

        running = asyncio.ensure_future(holder())
        await asyncio.sleep(0)
        queued = [asyncio.ensure_future(call(f"A{i}")) for i in range(1, 12)]
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(call("", first=True))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(running, closing, *queued)
        return order

    assert asyncio.run(run())[0] == "close"
