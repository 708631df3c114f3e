"""LLM failure types, classified once at the transport so retries and exits can act on them."""

from __future__ import annotations


class LLMError(Exception):
    """A failed attempt. ``retryable`` decides whether the retry policy tries again."""

    retryable: bool = True

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class TransientError(LLMError):
    """Timeouts, dropped connections, 408/409/429/5xx, or a 200 that is not a completion."""

    retryable = True


class RateLimited(TransientError):
    """A 429 that asks us to slow down (not one saying the quota is gone)."""


class TimedOut(TransientError):
    """No answer within the timeout: with others in flight, the wait may be a queue."""


class FatalError(LLMError):
    """400/401/403/404 or an exhausted quota: retrying cannot help; stop and tell the user."""

    retryable = False

    def __init__(self, reason: str, *, hint: str, status: int | None = None):
        super().__init__(reason, status=status)
        self.hint = hint


class QuotaExhausted(FatalError):
    """A 429 whose body says the account's quota or credit is used up."""


class RetriesExhausted(Exception):
    """Every allowed attempt of a call failed with retryable errors."""

    def __init__(self, last: LLMError, attempts: int):
        super().__init__(f"{last.reason} (after {attempts} attempts)")
        self.last = last
        self.attempts = attempts
        self.where = ""  # the role and endpoint whose calls failed (set by the client)


class Draining(Exception):
    """No new call may start; calls already on the wire finish and are journaled first."""


class BudgetExceeded(Draining):
    """A configured budget (calls, tokens or cost) would be passed by the next call."""


class StopRequested(Draining):
    """The user asked the run to stop (Ctrl+C, SIGTERM)."""


class SendInParts(Exception):
    """The endpoint answers this call one part (one label) per request: the client sends each
    part as a call of its own, journaled as it arrives, instead of the whole."""
