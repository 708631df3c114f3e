"""The local model's queue: one call at a time, the next one the call whose prompt shares the
longest prefix with the call before it, so the KV cache it left is reused.

The evaluator's workers send rows of the same prompt close together, but not back to back:
a worker on the next prompt, a content-free calibration call or a pruned schedule's rows of
several prompts (asked hardest first, prompt by prompt) cut in. Picking by shared prefix
puts each prompt's waiting rows back to back. No call waits for ever: one passed over
``MAX_PASSED`` times goes next. The order changes when a call is answered, never its answer
(the local backend's logprobs do not depend on what the cache held).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

MAX_PASSED = 8  # a waiting call overtaken this many times by later ones goes next


@dataclass(eq=False)
class _Waiter:
    prompt: str
    turn: asyncio.Future[None]
    passed: int = field(default=0)
    first: bool = False


class PrefixQueue:
    """Hands out turns one at a time; see the module docstring for the order."""

    def __init__(self) -> None:
        self._busy = False
        self._last = ""  # the prompt of the call that had the last turn
        self._waiting: list[_Waiter] = []  # in arrival order

    @asynccontextmanager
    async def turn(self, prompt: str, *, first: bool = False) -> AsyncIterator[None]:
        """Hold the turn for a call on ``prompt``; ``first`` goes ahead of every waiting call
        (closing the model at a stop must not wait behind the calls still queued)."""
        if self._busy:
            waiter = _Waiter(prompt, asyncio.get_running_loop().create_future(), first=first)
            self._waiting.append(waiter)
            try:
                await waiter.turn
            except asyncio.CancelledError:
                if waiter.turn.cancelled():
                    self._waiting.remove(waiter)
                else:  # handed the turn as it was cancelled: pass it on
                    self._hand_on()
                raise
        self._busy = True
        self._last = prompt
        try:
            yield
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        if not self._waiting:
            self._busy = False
            return
        chosen = self._next()
        for waiter in self._waiting[: self._waiting.index(chosen)]:
            waiter.passed += 1
        self._waiting.remove(chosen)
        chosen.turn.set_result(None)

    def _next(self) -> _Waiter:
        urgent = [w for w in self._waiting if w.first]
        if urgent:
            return urgent[0]
        oldest = self._waiting[0]
        if oldest.passed >= MAX_PASSED:
            return oldest
        shared = [common_prefix(w.prompt, self._last) for w in self._waiting]
        return self._waiting[shared.index(max(shared))]  # ties: the one that came first


def common_prefix(a: Sequence[object], b: Sequence[object]) -> int:
    """How many leading items ``a`` and ``b`` share (characters of prompts, tokens of
    contexts: the queue and the KV cache measure reuse the same way)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
