"""How much longer than the timeout a request may wait for its answer in a server's queue.

A server that serves one request at a time (llama.cpp's) queues the others, and one abandoned
at the timeout there is still computed, for nobody, while its re-send queues behind it: with
26-52 s log-likelihood requests and a 60 s timeout, a quarter of such a server's time went to
repeats. So the client grants each request ``MARGIN`` times the server's pace for its kind (the
limiter's latency with no queue, measured before a window of them went out) for every request
in flight ahead of it, on top of the timeout, and passes it down through :data:`QUEUE_WAIT`.
The backend applies it only where it is material (over ``MATERIAL`` of the timeout: expensive
requests), so cheap calls keep their transport's timeout and pay nothing for it.
"""

from __future__ import annotations

from contextvars import ContextVar

MARGIN = 2.0  # a request may take twice the least measured for its kind (prompts differ)
MATERIAL = 0.1  # share of the timeout below which the allowance is not applied

QUEUE_WAIT: ContextVar[float] = ContextVar("queue_wait", default=0.0)
"""Seconds the request being sent may wait beyond the timeout (set by the client per attempt)."""


def queue_wait(pace: float | None, ahead: int) -> float:
    """The allowance for a request with ``ahead`` others in flight, at ``pace`` seconds each."""
    return MARGIN * pace * ahead if pace is not None and ahead > 0 else 0.0


def timeout_for(timeout: float) -> float | None:
    """The timeout of the request being sent when its allowance is material, else None (the
    transport's own)."""
    extra = QUEUE_WAIT.get()
    return timeout + extra if extra > MATERIAL * timeout else None
