"""Retry policy: which failures are retried, how long to wait, and never more than N attempts.

Built from tenacity's composable pieces. Jitter draws from the module-level ``random`` and
never from the experiment's generator, so retries cannot change an experiment's choices.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from evoprompt.llm.errors import LLMError, RetriesExhausted

T = TypeVar("T")
RetryListener = Callable[[int, int, str, float], None]
"""Called before each wait with (failed attempt, max attempts, reason, seconds to wait)."""


def retry_notice(attempt: int, attempts: int, reason: str, wait: float) -> str:
    """The one wording of a retry, wherever it is shown."""
    return f"API call failed (attempt {attempt}/{attempts}): {reason}; retrying in {wait:.1f}s"


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, LLMError) and exc.retryable


@dataclass(frozen=True)
class wait_backoff:
    """Exponential (``delay * 2**(attempt-1)``) or linear backoff, jittered, capped.

    A server's ``Retry-After`` replaces the computed delay (it knows better), within the cap.
    """

    delay: float
    strategy: str = "exponential"
    cap: float = 60.0
    jitter: float = 0.1

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after", None)
        if hinted is not None:
            return min(float(hinted), self.cap)
        base = self.delay * (
            2 ** (state.attempt_number - 1) if self.strategy == "exponential" else 1
        )
        return min(base * (1 + random.uniform(0, self.jitter)), self.cap)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    delay: float = 1.0
    strategy: str = "exponential"
    cap: float = 60.0

    def options(
        self,
        retryable: Callable[[BaseException], bool] = is_retryable,
        on_retry: RetryListener | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for tenacity's ``Retrying``/``AsyncRetrying`` under this policy."""

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None and state.next_action:
                exc = state.outcome.exception()
                reason = getattr(exc, "reason", None) or f"{exc.__class__.__name__}: {exc}"
                on_retry(state.attempt_number, self.max_attempts, reason, state.next_action.sleep)

        return {
            "stop": stop_after_attempt(self.max_attempts),
            "wait": wait_backoff(self.delay, self.strategy, self.cap),
            "retry": retry_if_exception(retryable),
            "before_sleep": before_sleep,
            "reraise": True,
        }

    async def run(
        self, attempt: Callable[[], Awaitable[T]], on_retry: RetryListener | None = None
    ) -> tuple[T, int]:
        """Run ``attempt`` until it succeeds; return its result and the attempts it took.

        Raises the error itself when it is not retryable, and :class:`RetriesExhausted`
        once ``max_attempts`` retryable failures happened.
        """
        # Fast path: most calls succeed at once, and building tenacity's machinery for each
        # of thousands of calls cost ~4% of the runner's CPU at concurrency 32.
        try:
            return await attempt(), 1
        except LLMError as exc:
            if not exc.retryable:
                raise
            first: list[LLMError] = [exc]

        async def replay_first_then_attempt() -> T:
            # tenacity's attempt 1 is the failure above (no second request is sent for it),
            # so waits, notices and the attempt cap are exactly those of a plain retry loop.
            if first:
                raise first.pop()
            return await attempt()

        number = 0
        try:
            async for trial in AsyncRetrying(**self.options(on_retry=on_retry)):
                with trial:
                    number = trial.retry_state.attempt_number
                    result = await replay_first_then_attempt()
        except LLMError as exc:
            if exc.retryable:
                raise RetriesExhausted(exc, number) from exc
            raise
        return result, number
