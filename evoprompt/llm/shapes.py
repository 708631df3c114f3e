"""Tell an endpoint that cannot answer a kind of request from one that is briefly down.

A 5xx is normally an outage: retried, and in the end a resumable exit. But a server that
answers one request shape (a list of prompts, say) with the same error every time while it
answers others is not down: it does not support that shape, and a resume would fail the same
way forever. So when a shape that never succeeded fails ``REPEATS`` times with the same status
and message, while another shape has succeeded, the error becomes fatal (exit 2, one line).
"""

from __future__ import annotations

from typing import Any

from evoprompt.llm.errors import FatalError, LLMError

REPEATS = 3
OUTAGE_STATUSES = {408, 409, 429, 502, 503, 504}  # a busy or unreachable server, never a verdict


def shape(path: str, payload: dict[str, Any]) -> str:
    """What kind of request this is: the path, the fields sent and the prompt's JSON type."""
    prompt = type(payload.get("prompt")).__name__
    return f"{path} {','.join(sorted(payload))} prompt={prompt}"


class ShapeWatch:
    def __init__(self) -> None:
        self._answered: set[str] = set()
        self._failures: dict[str, tuple[str, int]] = {}  # shape -> (error, times in a row)

    def answered(self, path: str, payload: dict[str, Any]) -> None:
        kind = shape(path, payload)
        self._answered.add(kind)
        self._failures.pop(kind, None)

    def failed(self, path: str, payload: dict[str, Any], error: LLMError) -> LLMError:
        """The error to raise: ``error``, or a FatalError once it proves an incompatibility."""
        kind = shape(path, payload)
        if not error.retryable or error.status in OUTAGE_STATUSES or kind in self._answered:
            return error
        same, times = self._failures.get(kind, (error.reason, 0))
        times = times + 1 if same == error.reason else 1
        self._failures[kind] = (error.reason, times)
        if times < REPEATS or not self._answered:
            return error
        return FatalError(
            f"the endpoint answers every request of one kind with the same error, {error.reason}"
            f" ({times} times), while it answers others: it does not support {path} requests"
            f" with {', '.join(sorted(payload))}",
            hint="this is an incompatibility, not an outage: use another --scorer or endpoint",
            status=error.status,
        )
