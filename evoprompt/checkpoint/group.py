"""Group commit of the call journal: one SQLite transaction per event-loop turn, not per call.

Every request marked as sent and every answer recorded during one turn of the event loop is
written by a single :meth:`Journal.write` at the end of that turn; each caller is released
only once that transaction has committed, so an answer is still durable before anyone sees
it, and a request is still in ``pending`` before it goes out. At C concurrent calls this
turns up to C commits (the journal's largest per-call cost) into one.
"""

from __future__ import annotations

import asyncio

from evoprompt.checkpoint.journal import Answer, Journal


class GroupCommit:
    def __init__(self, journal: Journal):
        self.journal = journal
        self._sent: list[tuple[str, str]] = []  # (key, role)
        self._answers: list[Answer] = []
        self._waiting: list[asyncio.Future[None]] = []  # one per caller of the pending turn
        # After a failed write (a full disk) nothing more is written: the run is stopping with
        # that error, and a later, smaller batch must not slip into the space the failed one
        # took, so the journal stays as the failure left it.
        self._failure: Exception | None = None

    async def sent(self, key: str, role: str = "") -> None:
        """Mark ``role``'s request for ``key`` as going out; returns once that is committed."""
        self._sent.append((key, role))
        await self._commit()

    async def put(self, answer: Answer) -> None:
        """Record ``answer``; returns once it is committed (a failed write raises here)."""
        self._answers.append(answer)
        await self._commit()

    def _commit(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._flush)
        # a future per caller: a cancelled caller cancels its own, never the others'
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiting.append(waiter)
        return waiter

    def _flush(self) -> None:
        waiting, sent, answers = self._waiting, self._sent, self._answers
        self._waiting, self._sent, self._answers = [], [], []
        try:
            if self._failure is not None:
                raise self._failure
            self.journal.write(sent, answers)
        except Exception as exc:  # every caller of this turn sees the failure
            self._failure = exc
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_exception(exc)
        else:
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)
