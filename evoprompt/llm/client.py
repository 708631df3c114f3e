"""The one call path every LLM request takes: journal, budget, admission, retries, transport.

Order matters. A journaled answer is returned before anything else (a resumed run pays for
nothing twice); budgets are checked before a request is admitted; each *attempt* holds a
concurrency slot only while it is on the wire (not while it waits to retry); the answer is
journaled before the caller sees it. Each attempt is marked in the journal as sent before it
goes out (``lost_in_flight`` after a crash). Once the endpoint has answered in this run, a call
whose retries run out pauses every call while :class:`~evoprompt.llm.outage.OutageGate` probes
the endpoint (cheaply, one probe at a time), up to ``max_outage`` seconds, instead of ending the
run. A call the backend sends as several requests (a log-likelihood per label on an
``echo_single`` endpoint) is a call per request, each journaled as it arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from evoprompt.checkpoint.group import GroupCommit
from evoprompt.checkpoint.journal import Answer, BadRow, Journal
from evoprompt.checkpoint.journal_rows import PINGS, RESENT
from evoprompt.llm.budget import Budget, Prices
from evoprompt.llm.errors import (
    BudgetExceeded,
    LLMError,
    RateLimited,
    RetriesExhausted,
    SendInParts,
    StopRequested,
    TimedOut,
)
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.outage import OutageGate, OutageTooLong, ProbeListener
from evoprompt.llm.patience import QUEUE_WAIT, queue_wait
from evoprompt.llm.retry import RetryListener, RetryPolicy
from evoprompt.llm.types import Backend, LLMRequest, LLMResponse, Pinging, Splitting, Usage

CONGESTION_RESENDS = 3  # timeouts per attempt taken as a queue before one counts as a failure


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
        role: str = "",
        endpoint: str = "",
        role_budget: Budget | None = None,
        outage: OutageGate | None = None,
    ):
        self.backend = backend
        # Which role this client asks for (task or operator), at which endpoint (backend and
        # base URL, no credentials): recorded with each answer and failure in the journal.
        self.role = role
        self.endpoint = endpoint
        self.role_budget = role_budget  # the role's own budget, beside the run's total
        self.journal = journal
        self._commits = GroupCommit(journal)  # durable answers, one transaction per loop turn
        self.policy = policy
        self.limiter = limiter
        self.budget = budget or Budget()
        self.prices = prices or Prices()
        self.fallback_model = fallback_model
        self.on_retry: RetryListener | None = on_retry
        self.on_notice = on_notice
        self.max_outage = max_outage
        # One gate per endpoint: clients of one endpoint pause together during its outage.
        self.outage = outage or OutageGate(
            max_outage, lambda n: min(max(policy.delay, 0.1) * 2**n, policy.cap), on_probe
        )
        self._in_flight: dict[str, asyncio.Future[LLMResponse]] = {}
        self._stopping = False
        self._split = backend.parts if isinstance(backend, Splitting) else None
        self._ping = backend.ping if isinstance(backend, Pinging) else None

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
        if not why and self.role_budget is not None:
            own = self.role_budget.exceeded(self.journal.totals(self.role), len(self._in_flight))
            why = own and f"{self.role} {own}"
        if why:
            raise BudgetExceeded(why)
        shared = self._in_flight[key] = asyncio.get_running_loop().create_future()
        shared.add_done_callback(_mark_retrieved)
        try:
            response = await self._pay(request, key)
            shared.set_result(response)
            return response
        except RetriesExhausted as exc:
            exc.where = exc.where or self._where()
            shared.set_exception(exc)
            raise
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
            response, attempts, fallback = await self._send_riding_outages(request, key)
        except SendInParts:  # learned only now, by the endpoint's probe in this attempt
            return await self._call_parts(self._parts(request))
        cost = self.prices.cost(response, request.model if not fallback else self.fallback_model)
        usage = response.usage
        await self._commits.put(
            Answer(key, response.to_json(), response.model, usage.prompt_tokens,
                   usage.completion_tokens, cost, attempts, fallback, self.role, self.endpoint)
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

    def _rideable(self) -> bool:
        """Whether a call whose retries ran out waits out an outage rather than fail."""
        return self.outage.reached and self.max_outage > 0

    async def _send_riding_outages(
        self, request: LLMRequest, key: str
    ) -> tuple[LLMResponse, int, bool]:
        """Send ``request``; when its retries run out after the endpoint answered in this run,
        wait out the outage rather than fail the run. The attempts returned are all of the
        call's: a call answered after an outage is one answered call, not also a failed one."""
        spent = 0  # attempts before the outages ridden out so far
        while True:
            try:
                response, attempts, fallback = await self._send(request, key, spent)
                return response, spent + attempts, fallback
            except RetriesExhausted as exc:
                if not self._rideable():
                    raise  # recorded by _send
                spent += exc.attempts
                try:
                    answer = await self.outage.ride(lambda: self._probe(request, key), exc)
                except OutageTooLong as too_long:
                    self._failed(request, too_long.last, spent)  # its probes are counted apart
                    raise
                except LLMError as fatal:  # a probe's answer that retrying cannot help
                    self._failed(request, fatal, spent + 1)
                    raise
                if answer is not None:
                    return answer, spent + 1, False

    async def _probe(self, request: LLMRequest, key: str) -> LLMResponse | None:
        """One outage probe, and only one on the wire: a cheap request (the model list) while
        the endpoint is away, then this call's own request once that is answered (a server
        whose model list answers may still fail completions: the outage goes on then). None:
        the endpoint is back, but the call goes out in parts (sent again, as the others)."""
        if self._ping is not None:
            self.journal.bump(PINGS)
            await self._ping()
        try:
            return await self._attempt(request, key, probe=True)
        except SendInParts:
            return None
        except LLMError:
            self.journal.bump(RESENT)  # a request no attempt of the call counts
            raise

    async def _send(
        self, request: LLMRequest, key: str, spent: int = 0
    ) -> tuple[LLMResponse, int, bool]:
        """The call's attempts on its model, then on the fallback model; a failure that ends
        the call (not one an outage ride may still answer) is recorded, with ``spent``
        attempts before these."""
        try:
            response, attempts = await self.policy.run(
                lambda: self._attempt(request, key), self.on_retry
            )
            return response, attempts, False
        except RetriesExhausted as exc:
            if not self.fallback_model:
                if not self._rideable():
                    self._failed(request, exc.last, spent + exc.attempts)
                raise
            primary_attempts = exc.attempts
        except LLMError as exc:
            self._failed(request, exc, spent + 1)
            raise
        backup = request.with_model(self.fallback_model)
        try:
            response, attempts = await self.policy.run(
                lambda: self._attempt(backup, key), self.on_retry
            )
        except RetriesExhausted as exc:
            total = primary_attempts + exc.attempts
            if not self._rideable():
                self._failed(backup, exc.last, spent + total)
            raise RetriesExhausted(exc.last, total) from exc
        except LLMError as exc:
            self._failed(backup, exc, spent + primary_attempts + 1)
            raise
        return response, primary_attempts + attempts, True

    async def _attempt(self, request: LLMRequest, key: str, probe: bool = False) -> LLMResponse:
        """One request on the wire, marked in the journal as sent before it goes out; resent
        (up to CONGESTION_RESENDS times) when it timed out in a congested server's queue."""
        if not probe:
            await self.outage.passed()
        kind = f"{request.kind}/{request.max_tokens}"  # requests alike in expected latency
        for resend in range(CONGESTION_RESENDS + 1):
            async with self.limiter.slot(request.estimated_tokens(), kind) as window:
                await self._commits.sent(key)
                mark = self.limiter.clock.start()
                # the most that may queue with it: the window, or more where it was cut
                ahead = max(self.limiter.limit, self.limiter.in_flight) - 1
                wait = queue_wait(self.limiter.pace(kind), ahead)
                queued = QUEUE_WAIT.set(wait) if wait else None
                try:
                    response = await self.backend.complete(request)
                except SendInParts:
                    self.journal.settled(key)  # nothing was asked for this key
                    raise
                except LLMError as exc:
                    self.journal.settled(key)  # no answer: nothing billed
                    if isinstance(exc, RateLimited):
                        self.limiter.rate_limited(window)
                    elif (
                        isinstance(exc, TimedOut)
                        and resend < CONGESTION_RESENDS
                        and self.limiter.congested(window)
                    ):
                        self.journal.bump(RESENT)  # not an attempt of the call: counted here
                        continue  # timed out in the server's queue: shrink, send again
                    raise
                finally:
                    if queued is not None:
                        QUEUE_WAIT.reset(queued)
                self.limiter.succeeded(self.limiter.clock.latency(mark), kind, mark)
            self.outage.reached = True
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    def _failed(self, request: LLMRequest, exc: LLMError, attempts: int) -> None:
        self.journal.record_failure(
            request.key(), request.model, exc.reason, attempts, self.role, self.endpoint
        )

    def _where(self) -> str:
        """The role and endpoint, for the line that says which one failed ("" unnamed)."""
        if not self.role:
            return ""
        return f"{self.role} endpoint ({self.endpoint})" if self.endpoint else self.role

    async def aclose(self) -> None:
        await self.backend.aclose()


def _mark_retrieved(future: asyncio.Future[LLMResponse]) -> None:
    """A failed shared call nobody else awaited is not an 'exception never retrieved'."""
    if not future.cancelled():
        future.exception()
