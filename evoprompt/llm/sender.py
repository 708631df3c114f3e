"""How one paid call is sent: its attempts on the wire, retries, the fallback model, and an
outage waited out, with every failure that ends the call recorded in the journal.

The client (:mod:`evoprompt.llm.client`) decides whether a call is paid at all (the journal,
a call already on the wire, the budget); this is what happens once it is. Each attempt holds a
concurrency slot only while it is on the wire, and is marked in the journal as sent before it
goes out (``lost_in_flight`` after a crash). Once the endpoint has answered in this run, a call
whose retries run out pauses every call while :class:`~evoprompt.llm.outage.OutageGate`
probes the endpoint, up to ``max_outage`` seconds, instead of ending the run.
"""

from __future__ import annotations

from evoprompt.checkpoint.group import GroupCommit
from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.journal_rows import PINGS, RESENT
from evoprompt.llm.errors import LLMError, RateLimited, RetriesExhausted, SendInParts, TimedOut
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.outage import OutageGate, OutageTooLong, ProbeListener
from evoprompt.llm.patience import QUEUE_WAIT, queue_wait
from evoprompt.llm.retry import RetryListener, RetryPolicy
from evoprompt.llm.types import Backend, LLMRequest, LLMResponse, Pinging

CONGESTION_RESENDS = 3  # timeouts per attempt taken as a queue before one counts as a failure


class Sender:
    def __init__(
        self,
        backend: Backend,
        journal: Journal,
        commits: GroupCommit,
        *,
        policy: RetryPolicy,
        limiter: AdaptiveLimiter,
        fallback_model: str,
        on_retry: RetryListener | None,
        max_outage: float,
        on_probe: ProbeListener | None,
        outage: OutageGate | None = None,
        who: tuple[str, str] = ("", ""),
    ):
        self.backend = backend
        self.journal = journal
        self._commits = commits
        self.policy = policy
        self.limiter = limiter
        self.fallback_model = fallback_model
        self.on_retry = on_retry
        self.max_outage = max_outage
        # One gate per endpoint: clients of one endpoint pause together during its outage.
        self.outage = outage or OutageGate(
            max_outage, lambda n: min(max(policy.delay, 0.1) * 2**n, policy.cap), on_probe
        )
        self.who = who  # (role, endpoint) recorded with a failure
        self._ping = backend.ping if isinstance(backend, Pinging) else None

    def _rideable(self) -> bool:
        """Whether a call whose retries ran out waits out an outage rather than fail."""
        return self.outage.reached and self.max_outage > 0

    async def send(self, request: LLMRequest, key: str) -> tuple[LLMResponse, int, bool]:
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
                await self._commits.sent(key, self.who[0])
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
        self.journal.record_failure(request.key(), request.model, exc.reason, attempts, *self.who)
