"""The programmatic retry API of spec section 6 (``RetryManager``, ``with_retry``).

Retries use tenacity with :class:`evoprompt.llm.retry.wait_backoff` (the runner's backoff) and
the runner's failure classification; nothing here has a backoff rule of its own. Also
importable from :mod:`evoprompt.utils.checkpoint`, where spec section 6 names it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard, TypeVar, cast, overload

from tenacity import AsyncRetrying, Retrying

from evoprompt.llm.retry import RetryListener, RetryPolicy, is_retryable, retry_notice

__all__ = ["RetryManager", "is_transient", "with_retry"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("evoprompt.retry")

_TRANSIENT = (ConnectionError, TimeoutError, asyncio.TimeoutError)
_LIBRARY_TRANSIENT = {  # module: names of its transient failures
    "httpx": ("TransportError",),  # timeouts included
    "aiohttp": ("ClientConnectionError", "ClientPayloadError"),
}


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: a retryable LLMError, an httpx or aiohttp timeout or transport
    error, or a builtin ConnectionError/TimeoutError. Anything else is a bug or a refusal:
    raise at once. A library not imported yet cannot have raised, so none is imported here."""
    if is_retryable(exc) or isinstance(exc, _TRANSIENT):
        return True
    for module, names in _LIBRARY_TRANSIENT.items():
        library = sys.modules.get(module)
        if library is not None and isinstance(exc, tuple(getattr(library, n) for n in names)):
            return True
    return False


def _is_async(fn: Callable[..., Any]) -> TypeGuard[Callable[..., Awaitable[Any]]]:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )


class RetryManager:
    """Call a function until it succeeds, at most ``max_retries`` attempts in all.

    ``max_retries`` counts every attempt, the first included (as ``--max-retries``). Waits are
    ``base_delay * 2**(attempt-1)`` (``strategy="linear"``: ``base_delay``), jittered, capped at
    ``max_delay``, and a failure's ``retry_after`` wins within the cap. Transient failures
    (:func:`is_transient`) are retried; anything else, and the last transient failure once the
    attempts are spent, is raised unchanged.
    """

    def __init__(
        self,
        max_retries: int = 3,
        base_delay: float = 1.0,
        *,
        strategy: str = "exponential",
        max_delay: float = 60.0,
        on_retry: RetryListener | None = None,
    ):
        if max_retries < 1:
            raise ValueError("max_retries counts attempts and must be at least 1")
        if base_delay < 0 or max_delay < 0:
            raise ValueError("base_delay and max_delay must not be negative")
        if strategy not in ("exponential", "linear"):
            raise ValueError("strategy must be 'exponential' or 'linear'")
        self.policy = RetryPolicy(max_retries, base_delay, strategy, max_delay)
        self.on_retry = on_retry

    @property
    def max_retries(self) -> int:
        return self.policy.max_attempts

    def _notify(self, attempt: int, attempts: int, reason: str, wait: float) -> None:
        log.warning("%s", retry_notice(attempt, attempts, reason, wait))
        if self.on_retry is not None:
            self.on_retry(attempt, attempts, reason, wait)

    def _options(self) -> dict[str, Any]:
        return self.policy.options(is_transient, self._notify)

    @overload
    def retry_with_backoff(
        self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> Awaitable[T]: ...

    @overload
    def retry_with_backoff(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def retry_with_backoff(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with retries; for an async ``fn``, an awaitable of it."""
        if _is_async(fn):
            return self._retry_async(fn, *args, **kwargs)
        result = Retrying(**self._options())(fn, *args, **kwargs)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError(
                "retry_with_backoff got an awaitable from a plain function: pass the async "
                "function itself so that each attempt gets a fresh coroutine"
            )
        return result

    async def _retry_async(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return await AsyncRetrying(**self._options())(fn, *args, **kwargs)


def with_retry(max_retries: int = 3, base_delay: float = 1.0, **options: Any) -> Callable[[F], F]:
    """Decorator form of :class:`RetryManager` for plain and async functions.

    The decorated function keeps its signature (the wrappers only add attempts).
    """
    manager = RetryManager(max_retries, base_delay, **options)

    def decorate(fn: F) -> F:
        if _is_async(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await manager.retry_with_backoff(fn, *args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return manager.retry_with_backoff(fn, *args, **kwargs)

        return cast(F, wrapper)

    return decorate
