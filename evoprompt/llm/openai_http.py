"""The OpenAI-compatible backend: request bodies, answers and failures, one attempt per call.

Statuses and bodies are classified here, where the API's details are known, into the error
types of :mod:`evoprompt.llm.errors`; everything above this module is API-agnostic, and the
HTTP library below it is a :mod:`evoprompt.llm.transport` (``http_client``).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
import urllib.parse
from dataclasses import replace
from typing import Any

from evoprompt.llm.errors import (
    FatalError,
    LLMError,
    QuotaExhausted,
    RateLimited,
    SendInParts,
    TransientError,
)
from evoprompt.llm.patience import timeout_for
from evoprompt.llm.probe import (
    CHAT_TOP,
    ECHO_SINGLE,
    GENERATE_HINT,
    EndpointMemory,
    Refused,
    chat_payload,
    chat_top_scores,
    echo_payload,
    echo_score,
    probe,
)
from evoprompt.llm.shapes import ShapeWatch
from evoprompt.llm.transport import (
    DEFAULT,
    TRANSPORTS,
    Reply,
    Target,
    basic_auth,
    env_proxy,
    split_userinfo,
)
from evoprompt.llm.types import LLMRequest, LLMResponse, Usage

_QUOTA_WORDS = ("insufficient_quota", "quota", "billing", "credit")
_FATAL_HINTS = {
    400: "the endpoint rejected the request; check --model and the endpoint's API",
    401: "check OPENAI_API_KEY (it is missing, wrong or revoked)",
    403: "the key has no access to this model or endpoint; check its permissions",
    404: "check --base-url (should end in /v1 for most servers) and --model",
}
_STATUS_NAMES = {
    400: "bad request",
    401: "authentication failed",
    403: "permission denied",
    404: "not found",
}


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_text(response: Reply) -> str:
    try:
        body = response.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        message = err.get("message", "") if isinstance(err, dict) else str(err)
        code = err.get("code") or err.get("type") if isinstance(err, dict) else None
        return f"{message} [{code}]" if code else str(message)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200]


def classify(response: Reply) -> LLMError:
    """Map a non-2xx response onto a retryable or fatal error."""
    status = response.status
    detail = _error_text(response).strip()
    suffix = f": {detail}" if detail else ""
    if status == 429:
        if any(word in detail.lower() for word in _QUOTA_WORDS):
            return QuotaExhausted(
                f"quota exhausted (HTTP 429){suffix}",
                hint="add credit or raise the account's quota, then resume",
                status=status,
            )
        wait = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(f"rate limited (HTTP 429){suffix}", status=status, retry_after=wait)
    if status in (408, 409) or status >= 500:
        wait = parse_retry_after(response.headers.get("retry-after"))
        return TransientError(f"HTTP {status}{suffix}", status=status, retry_after=wait)
    name = _STATUS_NAMES.get(status, f"HTTP {status}")
    hint = _FATAL_HINTS.get(status, "check the endpoint, --model and the request settings")
    if 300 <= status < 400:  # a POST is not followed: its body would be dropped or resent
        where = response.headers.get("location")
        name = f"redirected to {where}" if where else "redirected"
        hint = "set --base-url to the address the endpoint redirects to (https://? /v1?)"
    return FatalError(f"{name} (HTTP {status}){suffix}", hint=hint, status=status)


class OpenAIBackend:
    """Chat, completion and log-likelihood requests to an OpenAI-compatible server."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        concurrency: int,
        http_client: str = DEFAULT,
    ):
        # user:password in the URL is sent as Basic auth only when there is no key: the key
        # wins. Either lives only in the transport's default headers.
        base_url, userinfo = split_userinfo(base_url)
        user, _, password = userinfo.partition(":")
        api_key = api_key.strip()  # a key pasted with its line end
        if not all("!" <= c <= "~" for c in api_key):  # not printed: it is a secret
            raise FatalError(
                "OPENAI_API_KEY holds a character an HTTP header cannot carry (a space, a "
                "control character or a non-ASCII letter)",
                hint="set it again, copied from the provider's page",
            )
        headers = {}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        elif userinfo:
            unquote = urllib.parse.unquote
            headers["Authorization"] = basic_auth(unquote(user), unquote(password))
        base_url = base_url.rstrip("/")
        target = Target(base_url, headers, timeout, concurrency, env_proxy(base_url))
        self._timeout = timeout
        self._transport = TRANSPORTS[http_client](target)
        self._memory = EndpointMemory(None, base_url, "")
        self._probing = asyncio.Lock()
        self._shapes = ShapeWatch()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        if request.kind == "chat":
            payload: dict[str, Any] = {
                "model": request.model,
                "messages": [{"role": r, "content": c} for r, c in request.messages],
                "temperature": request.temperature,
                "max_tokens": request.max_tokens,
            }
            if request.stop:
                payload["stop"] = list(request.stop)
            if request.site:
                payload["seed"] = request.sample_seed()
            body = await self._post("/chat/completions", payload)
            return _text_response(body, request, chat=True)
        if request.kind == "completion":
            payload = {
                "model": request.model,
                "prompt": request.prompt,
                "temperature": request.temperature,
                "max_tokens": request.max_tokens,
            }
            if request.stop:
                payload["stop"] = list(request.stop)
            if request.site:
                payload["seed"] = request.sample_seed()
            body = await self._post("/completions", payload)
            return _text_response(body, request, chat=False)
        return await self._loglik(request)

    def parts(self, request: LLMRequest) -> tuple[LLMRequest, ...]:
        """A log-likelihood call to an ``echo_single`` endpoint, as one call per label: each
        request's answer is then journaled as it arrives, so a crash loses only those on the
        wire (held here until the last label came back, a kill lost them all)."""
        if request.kind != "loglik" or len(request.continuations) < 2:
            return ()
        if self._memory.recall() != ECHO_SINGLE:
            return ()
        return tuple(replace(request, continuations=(c,)) for c in request.continuations)

    def use_endpoint(self, memory: EndpointMemory) -> None:
        """Where the probed log-likelihood mode is kept (a resume finds it there)."""
        self._memory = memory

    async def _loglik_mode(self, model: str) -> str:
        mode = self._memory.recall()
        if mode is None:
            async with self._probing:  # one probe, however many calls arrive at once
                mode = self._memory.recall()
                if mode is None:
                    mode = await probe(self._probe_post, model)
                    self._memory.remember(mode)
        return mode

    async def _probe_post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._memory.sent()  # counted where the probe's outcome is kept: no call bills it
        return await self._post(path, payload)

    async def _loglik(self, request: LLMRequest) -> LLMResponse:
        """Score continuations the way the endpoint offers (see :mod:`evoprompt.llm.probe`)."""
        mode = await self._loglik_mode(request.model)
        prompt, continuations = request.prompt, request.continuations
        try:
            if mode == CHAT_TOP:
                body = await self._post("/chat/completions", chat_payload(request.model, prompt))
                scores = chat_top_scores(body, continuations)
                usage = _usage(body)
            elif mode == ECHO_SINGLE:  # one prompt per request: the server refuses lists
                if len(continuations) != 1:
                    raise SendInParts(mode)  # see parts(): each label is journaled on its own
                body = await self._post(
                    "/completions", echo_payload(request.model, prompt + continuations[0])
                )
                end = len(prompt + continuations[0])
                scores, usage = [echo_score(_choices(body)[0], len(prompt), end)], _usage(body)
            else:
                full = [prompt + c for c in continuations]
                body = await self._post("/completions", echo_payload(request.model, full))
                choices = sorted(_choices(body), key=lambda c: int(c.get("index", 0)))
                if len(choices) != len(continuations):
                    raise TransientError("loglik response has the wrong number of choices")
                scores = [
                    echo_score(choice, len(prompt), len(prompt + c))
                    for choice, c in zip(choices, continuations)
                ]
                usage = _usage(body)
        except Refused as exc:
            raise FatalError(
                f"the endpoint stopped offering log-likelihoods as probed ({mode}): {exc}",
                hint=GENERATE_HINT,
            ) from None
        return LLMResponse(logprobs=tuple(scores), usage=usage, model=body.get("model", ""))

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self._transport.post(path, payload, timeout_for(self._timeout))
        if response.status >= 300:
            raise self._shapes.failed(path, payload, classify(response))
        self._shapes.answered(path, payload)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            kind = response.headers.get("content-type", "unknown type")
            raise TransientError(f"HTTP 200 body is not JSON ({kind}; a proxy page?)") from None
        if not isinstance(body, dict):
            raise TransientError("HTTP 200 body is not a JSON object")
        return body

    async def ping(self) -> None:
        """The cheapest request that says the server is back: its model list. Any answer but
        a 5xx, 408 or 429 (a 404 included: no such route, but a server) means it is."""
        response = await self._transport.get("/models")
        if response.status >= 500 or response.status in (408, 429):
            raise classify(response)

    async def aclose(self) -> None:
        await self._transport.aclose()


def _choices(body: dict[str, Any]) -> list[dict[str, Any]]:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise TransientError("HTTP 200 response has no choices")
    return choices


def _usage(body: dict[str, Any]) -> Usage:
    raw = body.get("usage") or {}
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))


def _text_response(body: dict[str, Any], request: LLMRequest, *, chat: bool) -> LLMResponse:
    first = _choices(body)[0]
    try:
        text = first["message"]["content"] if chat else first["text"]
    except (KeyError, TypeError):
        raise TransientError("HTTP 200 response has a malformed choice") from None
    if not isinstance(text, str):
        raise TransientError("HTTP 200 response has no text content")
    return LLMResponse(text=text, usage=_usage(body), model=body.get("model", request.model))
