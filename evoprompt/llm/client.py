"""The one call path every LLM request takes: journal, budget, admission, retries, transport.

Order matters. A journaled answer is returned before anything else (a resumed run pays for
nothing twice); budgets are checked before a request is admitted; each *attempt* holds a
concurrency slot only while it is on the wire (not while it waits to retry); the answer is
journaled before the caller sees it. How a paid call is sent (attempts, retries, the fallback
model, outages waited out) is :mod:`evoprompt.llm.sender`'s. A call the backend sends as several
requests (a log-likelihood per label on an ``echo_single`` endpoint) is a call per request, each
journaled as it arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from evoprompt.checkpoint.group import GroupCommit
from evoprompt.checkpoint.journal import Answer, BadRow, Journal
from evoprompt.llm.budget import Budget, Prices
from evoprompt.llm.errors import BudgetExceeded, SendInParts, StopRequested
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.outage import ProbeListener
from evoprompt.llm.retry import RetryListener, RetryPolicy
from evoprompt.llm.sender import Sender
from evoprompt.llm.types import Backend, LLMRequest, LLMResponse, Splitting, Usage


class LLMClient:
    def __init__(
        self,
        backend: Backend,
        journal: Journal,
        *,
        policy: RetryPolicy,
        limiter: AdaptiveLimiter,
        budget: Budget | None = None,
        prices: Prices | None = None,
        fallback_model: str = "",
        on_retry: RetryListener | None = None,
        max_outage: float = 0.0,
        on_probe: ProbeListener | None = None,
        on_notice: Callable[[str], None] | None = None,
    ):
        self.backend = backend
        self.journal = journal
        self._commits = GroupCommit(journal)  # durable answers, one transaction per loop turn
        self.limiter = limiter
        self.budget = budget or Budget()
        self.prices = prices or Prices()
        self.fallback_model = fallback_model
        self.on_notice = on_notice
        self._sender = Sender(
            backend,
            journal,
            self._commits,
            policy=policy,
            limiter=limiter,
            fallback_model=fallback_model,
            on_retry=on_retry,
            max_outage=max_outage,
            on_probe=on_probe,
        )
        self._in_flight: dict[str, asyncio.Future[LLMResponse]] = {}
        self._stopping = False
        self._split = backend.parts if isinstance(backend, Splitting) else None

    def answered(self, request: LLMRequest) -> bool:
        """Whether the journal holds a usable answer to ``request`` (it would cost nothing)."""
        if self._journaled(request.key(), request) is not None:
            return True
        parts = self._parts(request)
        return bool(parts) and all(self._journaled(p.key(), p) is not None for p in parts)

    def _journaled(self, key: str, request: LLMRequest) -> LLMResponse | None:
        """The stored answer; a garbled or forged one is set aside, said, and asked again."""
        try:
            journaled = self.journal.get(key)
            return None if journaled is None else LLMResponse.from_json(journaled)
        except (BadRow, ValueError, KeyError, TypeError) as exc:
            why = str(exc) if isinstance(exc, BadRow) else "not a valid answer"
        self.journal.reject(key, why)
        if self.on_notice is not None:
            self.on_notice(
                f"journal: the stored answer for {request.site or key[:16]} {why}; "
                "it is set aside and asked again"
            )
        return None

    async def call(self, request: LLMRequest) -> LLMResponse:
        key = request.key()
        cached = self._journaled(key, request)
        if cached is None and key in self._in_flight:
            # The same call is already on the wire (duplicate rows, say): share its answer
            # rather than paying for it twice.
            cached = await asyncio.shield(self._in_flight[key])
        if cached is not None:
            self.journal.bump("cache_hits")
            return cached
        parts = self._parts(request)
        if parts:  # each part is a call of its own: journaled, budgeted, shared
            return await self._call_parts(parts)
        if self._stopping:
            raise StopRequested("the run is stopping")
        why = self.budget.exceeded(self.journal.totals(), len(self._in_flight))
        if why:
            raise BudgetExceeded(why)
        shared = self._in_flight[key] = asyncio.get_running_loop().create_future()
        shared.add_done_callback(_mark_retrieved)
        try:
            response = await self._pay(request, key)
            shared.set_result(response)
            return response
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                shared.cancel()
            else:
                shared.set_exception(exc)
            raise
        finally:
            del self._in_flight[key]

    def _parts(self, request: LLMRequest) -> tuple[LLMRequest, ...]:
        """The calls ``request`` is sent as, one per label (see :class:`Splitting`); ()."""
        if request.kind != "loglik" or self._split is None:
            return ()
        return self._split(request)

    async def _pay(self, request: LLMRequest, key: str) -> LLMResponse:
        """Send ``request`` and journal its answer."""
        try:
            response, attempts, fallback = await self._sender.send(request, key)
        except SendInParts:  # learned only now, by the endpoint's probe in this attempt
            return await self._call_parts(self._parts(request))
        cost = self.prices.cost(response, request.model if not fallback else self.fallback_model)
        usage = response.usage
        await self._commits.put(
            Answer(key, response.to_json(), response.model, usage.prompt_tokens,
                   usage.completion_tokens, cost, attempts, fallback)
        )  # fmt: skip
        return response

    async def _call_parts(self, parts: tuple[LLMRequest, ...]) -> LLMResponse:
        """One log-likelihood per part, each a call of its own (journaled as it arrives, shared
        with any other call that asks the same part), put together as the whole's answer."""
        answers = await asyncio.gather(*(self.call(part) for part in parts))
        return LLMResponse(
            logprobs=tuple(a.logprobs[0] for a in answers),
            usage=Usage(
                sum(a.usage.prompt_tokens for a in answers),
                sum(a.usage.completion_tokens for a in answers),
            ),
            model=answers[0].model,
        )

    @property
    def in_flight(self) -> int:
        """Calls on the wire now (a budget shared by several clients reserves them all)."""
        return len(self._in_flight)

    def stop(self) -> None:
        """Start no new call from now on; calls already on the wire land in the journal."""
        self._stopping = True

    async def aclose(self) -> None:
        await self.backend.aclose()


def _mark_retrieved(future: asyncio.Future[LLMResponse]) -> None:
    """A failed shared call nobody else awaited is not an 'exception never retrieved'."""
    if not future.cancelled():
        future.exception()
