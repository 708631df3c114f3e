"""Retry policy, backoff arithmetic, Retry-After parsing and HTTP failure classification."""

from __future__ import annotations

import asyncio
import email.utils
import json

import pytest
from multidict import CIMultiDict
from tenacity import RetryCallState, Retrying

from evoprompt.llm.errors import (
    FatalError,
    LLMError,
    QuotaExhausted,
    RateLimited,
    RetriesExhausted,
    TransientError,
)
from evoprompt.llm.openai_http import classify, parse_retry_after
from evoprompt.llm.retry import RetryPolicy, is_retryable, wait_backoff
from evoprompt.llm.transport import Reply


class Failing:
    """An async callable failing with ``errors[i]`` on call i, then answering ``"ok"``."""

    def __init__(self, *errors: BaseException):
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.calls <= len(self.errors):
            raise self.errors[self.calls - 1]
        return "ok"


def run(policy: RetryPolicy, attempt: Failing, waits: list[float] | None = None) -> tuple[str, int]:
    listener = None if waits is None else (lambda n, m, r, s: waits.append(s))
    return asyncio.run(policy.run(attempt, listener))


# -- RetryPolicy --------------------------------------------------------------------------------


def test_success_after_retryable_failures_reports_the_attempts() -> None:
    attempt = Failing(TransientError("HTTP 500"), RateLimited("429"))
    assert run(RetryPolicy(max_attempts=3, delay=0), attempt) == ("ok", 3)
    assert attempt.calls == 3


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_attempts_never_exceed_the_maximum(max_attempts: int) -> None:
    attempt = Failing(*[TransientError(f"fail {i}") for i in range(10)])
    with pytest.raises(RetriesExhausted) as err:
        run(RetryPolicy(max_attempts=max_attempts, delay=0), attempt)
    assert attempt.calls == max_attempts == err.value.attempts
    assert err.value.last.reason == f"fail {max_attempts - 1}"
    assert f"after {max_attempts} attempts" in str(err.value)


@pytest.mark.parametrize(
    "error",
    [
        FatalError("authentication failed (HTTP 401)", hint="check the key", status=401),
        QuotaExhausted("quota exhausted (HTTP 429)", hint="add credit", status=429),
        ValueError("a bug, not a failure"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_non_retryable_errors_are_raised_at_once(error: BaseException) -> None:
    attempt = Failing(error, error, error)
    with pytest.raises(type(error)) as raised:
        run(RetryPolicy(max_attempts=5, delay=0), attempt)
    assert raised.value is error and attempt.calls == 1
    assert not is_retryable(error)


def test_retry_listener_sees_each_failed_attempt() -> None:
    seen: list[tuple[int, int, str]] = []
    attempt = Failing(TransientError("HTTP 502"), TransientError("timed out"))
    policy = RetryPolicy(max_attempts=4, delay=0)
    asyncio.run(policy.run(attempt, lambda n, m, reason, _s: seen.append((n, m, reason))))
    assert seen == [(1, 4, "HTTP 502"), (2, 4, "timed out")]


def test_policy_waits_back_off_and_honour_retry_after() -> None:
    waits: list[float] = []
    errors = [TransientError("a"), TransientError("b"), RateLimited("429", retry_after=0.003)]
    run(RetryPolicy(max_attempts=4, delay=0.001), Failing(*errors), waits)
    assert 0.001 <= waits[0] <= 0.0011 and 0.002 <= waits[1] <= 0.0022
    assert waits[2] == 0.003
    waits.clear()
    capped = Failing(RateLimited("429", retry_after=120.0))
    run(RetryPolicy(max_attempts=2, delay=0, cap=0.004), capped, waits)
    assert waits == [0.004]


# -- wait_backoff ------------------------------------------------------------------------------


def state_after(attempt: int, error: BaseException | None = None) -> RetryCallState:
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    exc = error or TransientError("boom")
    state.set_exception((type(exc), exc, None))
    return state


def test_exponential_backoff_values_with_bounded_jitter() -> None:
    wait = wait_backoff(delay=1.0, strategy="exponential", cap=60.0, jitter=0.1)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]:
        values = [wait(state_after(attempt)) for _ in range(50)]
        assert all(base <= v <= base * 1.1 for v in values), (attempt, values)
        assert len(set(values)) > 1  # jittered
    assert wait(state_after(10)) == 60.0  # 512 s capped


def test_linear_backoff_values() -> None:
    wait = wait_backoff(delay=0.5, strategy="linear", cap=60.0, jitter=0.1)
    for attempt in (1, 2, 5, 9):
        assert 0.5 <= wait(state_after(attempt)) <= 0.55


def test_no_jitter_is_exact() -> None:
    wait = wait_backoff(delay=0.25, jitter=0.0)
    assert [wait(state_after(n)) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]


def test_retry_after_replaces_the_computed_delay_within_the_cap() -> None:
    wait = wait_backoff(delay=1.0, cap=30.0)
    assert wait(state_after(1, RateLimited("429", retry_after=7.0))) == 7.0
    assert wait(state_after(4, RateLimited("429", retry_after=0.0))) == 0.0
    assert wait(state_after(1, TransientError("503", retry_after=500.0))) == 30.0


# -- Retry-After parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0.5", 0.5), ("0", 0.0), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    future = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(future, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0


# -- classification of real HTTP responses ---------------------------------------------------


def response(status: int, body: object = None, headers: dict[str, str] | None = None) -> Reply:
    """A reply as a transport hands it over: headers case-insensitive, the body as bytes."""
    content = body if isinstance(body, str) else json.dumps(body or {"error": {"message": "x"}})
    return Reply(status, CIMultiDict(headers or {}), content.encode())


@pytest.mark.parametrize(
    ("status", "name", "hint"),
    [
        (400, "bad request", "--model"),
        (401, "authentication failed", "OPENAI_API_KEY"),
        (403, "permission denied", "permissions"),
        (404, "not found", "--base-url"),
        (422, "HTTP 422", "request settings"),
    ],
)
def test_client_errors_are_fatal_with_a_hint(status: int, name: str, hint: str) -> None:
    body = {"error": {"message": "nope", "code": "some_code"}}
    error = classify(response(status, body))
    assert type(error) is FatalError and not error.retryable
    assert error.status == status and name in error.reason and hint in error.hint
    assert error.reason.endswith(": nope [some_code]")


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 504])
def test_transient_statuses_are_retryable(status: int) -> None:
    error = classify(response(status, headers={"Retry-After": "2"}))
    assert type(error) is TransientError and error.retryable
    assert error.status == status and error.retry_after == 2.0


def test_429_is_rate_limited_with_retry_after() -> None:
    error = classify(response(429, {"error": {"message": "slow down"}}, {"Retry-After": "3"}))
    assert isinstance(error, RateLimited) and error.retryable
    assert error.retry_after == 3.0 and "slow down" in error.reason
    assert classify(response(429)).retry_after is None


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}},
        {"error": {"message": "Your credit balance is too low", "type": "billing"}},
        "insufficient_quota",
    ],
)
def test_429_quota_exhausted_is_fatal(body: object) -> None:
    error = classify(response(429, body))
    assert isinstance(error, QuotaExhausted) and isinstance(error, FatalError)
    assert not error.retryable and "quota" in error.reason and error.hint


def test_non_json_error_body_is_quoted() -> None:
    error = classify(response(502, "<html>Bad gateway</html>"))
    assert error.retryable and "<html>Bad gateway</html>" in error.reason


def test_error_hierarchy() -> None:
    assert issubclass(RateLimited, TransientError) and issubclass(QuotaExhausted, FatalError)
    assert LLMError("x").retryable and not FatalError("x", hint="h").retryable
