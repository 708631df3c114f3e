"""The faults the test endpoint can inject or imitate, switched per server (and at run time
through ``POST /_faults``), the shape of an error reply, and the queue of the ``serial`` one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

# status, extra headers, body: JSON, or a str sent as text/html (the non-JSON fault)
Reply: TypeAlias = "tuple[int, dict[str, str], Any]"


@dataclass
class Faults:
    latency: float = 0.0
    p_500: float = 0.0
    p_429: float = 0.0
    retry_after: str = "1"
    p_nonjson: float = 0.0
    p_hang: float = 0.0
    hang_s: float = 30.0
    hang_first: int = 0  # the first N requests hang
    p_no_tags: float = 0.0
    max_inflight: int = 0  # answer 429 above this many requests in flight (0 = no ceiling)
    quota_after: int = -1  # after N answered requests, 429 insufficient_quota (-1 = never)
    down: bool = False  # every request gets a 503
    fail_400: bool = False  # every request gets a 400
    api_key: str = ""  # when set, any other bearer token gets a 401
    fail_model: str = ""  # requests for this model always get a 500 (to exercise fallbacks)
    ignore_seed: bool = False  # operator replies ignore the request's seed (and so its site)
    echo_parent: bool = False  # every operator reply gives back its parent: never a new prompt
    serial: bool = False  # serve one request at a time, the others wait (llama.cpp's server)
    hold: bool = False  # answer no completion request until cleared (a test's fixed moment)
    refuse_lists: bool = False  # a list of prompts gets llama.cpp's HTTP 500
    refuse_echo: bool = False  # echo on /completions gets a 400 (chat-only endpoints)
    no_chat_logprobs: bool = False  # chat replies carry no logprobs even when asked
    # share of operator replies whose child drops one of its parent's magic words (a hash of the
    # request decides which, so runs stay reproducible): children worse than their parents
    worse_children: float = 0.0
    # added to every prompt's accuracy (capped at 0.95): a stronger model, whose prompts score
    # 0.7-0.95 on sentiment as real ones do, instead of the default's 0.35-0.95
    skill: float = 0.0
    # how much prompts agree on which samples are hard (0: each prompt's misses are independent;
    # towards 1: they miss the same samples, as a real model does on sarcasm or mixed reviews);
    # each prompt's accuracy is unchanged
    hard_rows: float = 0.0
    # operator replies take up to this many seconds more than the rest, each its own share by a
    # hash of the request: a real model writes children of different lengths, so a brood's
    # replies arrive over seconds, not together
    operator_spread: float = 0.0


def error_reply(
    status: int, message: str, headers: dict[str, str] | None = None, **detail: str
) -> Reply:
    """An OpenAI-style error reply."""
    return status, headers or {}, {"error": {"message": message, **detail}}


class Turns:
    """A lock taken in the order it was asked for, as llama.cpp's server queues requests (a
    plain lock lets a late request overtake one that has waited for seconds)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._changed:
            ticket, self._next = self._next, self._next + 1
            self._changed.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._serving += 1
            self._changed.notify_all()


def auth_fault(f: Faults, authorization: str, model: str) -> Reply | None:
    """The reply of an endpoint that refuses this request outright: a wrong key, down, a
    failing model, every request bad."""
    if f.api_key and authorization != f"Bearer {f.api_key}":
        return error_reply(
            401,
            "Incorrect API key provided",
            type="invalid_request_error",
            code="invalid_api_key",
        )
    if f.down or (f.fail_model and model == f.fail_model):
        return error_reply(503, "service unavailable")
    if f.fail_400:
        return error_reply(400, "invalid request", type="invalid_request")
    return None


def refusal(f: Faults, path: str, body: dict[str, Any]) -> Reply | None:
    """What an endpoint that lacks a feature answers to a request using it."""
    completions = not path.endswith("/chat/completions")
    if completions and f.refuse_lists and isinstance(body.get("prompt"), list):
        return error_reply(500, "assert len(body.prompt) <= 1")  # llama-cpp-python 0.3.x
    if completions and f.refuse_echo and body.get("echo"):
        return error_reply(400, "echo is not supported with this model", type="invalid_request")
    return None


def chance(f: Faults, inflight: int, answered: int, roll: Callable[[], float]) -> Reply | None:
    """A fault of load or luck: too many in flight, the quota spent, or one drawn by ``roll``
    (called only when the others did not answer, so the draws follow the requests)."""
    if f.max_inflight and inflight > f.max_inflight:
        return error_reply(429, "too many requests in flight", {"Retry-After": "0"})
    if 0 <= f.quota_after <= answered:
        return error_reply(429, "You exceeded your current quota", code="insufficient_quota")
    left = roll()
    for threshold, outcome in (
        (f.p_500, error_reply(500, "internal error")),
        (f.p_429, error_reply(429, "slow down", {"Retry-After": f.retry_after})),
        (f.p_nonjson, (200, {}, "<html><body>Bad gateway</body></html>")),
    ):
        if left < threshold:
            return outcome
        left -= threshold
    return None
