"""How an endpoint answers log-likelihood questions, found by trying each way once.

Servers differ: vLLM and OpenAI's legacy models echo prompt logprobs for a list of prompts on
``/completions``; llama.cpp's server echoes them for one prompt per request and answers a list
with HTTP 500; chat-only endpoints (OpenAI's chat models, Ollama) give no echo but return the
``top_logprobs`` of the answer's first token. :func:`probe` tries these in that order with a
tiny request and returns the first that works, or fails with one line naming what is missing.
:class:`EndpointMemory` keeps the answer in the experiment (``endpoint.json``) so a resume
never probes again nor changes how a score is computed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import EndpointRecord, SchemaError
from evoprompt.llm.errors import FatalError, LLMError, QuotaExhausted

ECHO_BATCH = "echo_batch"  # /completions, a list of prompts, echo + logprobs
ECHO_SINGLE = "echo_single"  # /completions, one prompt per request, echo + logprobs
CHAT_TOP = "chat_top"  # /chat/completions, top_logprobs of the first answer token
MODES = (ECHO_BATCH, ECHO_SINGLE, CHAT_TOP)
TOP_LOGPROBS = 20  # the most OpenAI allows
REFUSED_STATUSES = {400, 404, 405, 422, 500, 501}  # "not this shape"; others may be outages
GENERATE_HINT = "use --scorer generate (the model's answer, judged by the metric)"
_PROBE = ("Question: is the sky blue?\nAnswer:", (" yes", " no"))

Post = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class Refused(Exception):
    """This way of asking is not offered by the endpoint (the message says how it failed)."""


def echo_payload(model: str, prompt: str | list[str]) -> dict[str, Any]:
    return {
        "model": model,
        "prompt": prompt,
        "max_tokens": 1,
        "temperature": 0.0,
        "echo": True,
        "logprobs": 1,
    }


def chat_payload(model: str, prompt: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 1,
        "temperature": 0.0,
        "logprobs": True,
        "top_logprobs": TOP_LOGPROBS,
    }


def echo_score(choice: dict[str, Any], start: int, end: int) -> float:
    """The summed logprob of the echoed tokens starting inside ``[start, end)``."""
    try:
        logprobs = choice["logprobs"]
        offsets, values = logprobs["text_offset"], logprobs["token_logprobs"]
        picked = [v for o, v in zip(offsets, values) if v is not None and start <= o < end]
    except (KeyError, TypeError):
        raise Refused("/completions returns no echoed logprobs") from None
    if not picked:
        raise Refused("/completions echoes no logprobs for the appended answer")
    return float(sum(picked))


def chat_top_scores(body: dict[str, Any], continuations: Sequence[str]) -> list[float]:
    """Each answer's log-probability as the reply's first token, from ``top_logprobs``.

    Only tokens that begin an answer count (summed as probabilities: "positive", " Positive"
    and "pos" all start "positive"); an answer none of the listed tokens begins gets less than
    the least listed one.
    """
    try:
        top = body["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        listed = [(str(t["token"]).strip().lower(), float(t["logprob"])) for t in top]
    except (KeyError, IndexError, TypeError, ValueError):
        raise Refused("chat completions return no top_logprobs") from None
    if not listed:
        raise Refused("chat completions return an empty top_logprobs")
    floor = min(lp for _, lp in listed) - 1.0
    scores = []
    for continuation in continuations:
        answer = continuation.strip().lower()
        hits = [lp for token, lp in listed if token and answer.startswith(token)]
        scores.append(math.log(sum(math.exp(lp) for lp in hits)) if hits else floor)
    return scores


def _refusal(exc: LLMError) -> None:
    """Re-raise an error answer to a probe unless it means 'not offered' (it may be an outage)."""
    if isinstance(exc, QuotaExhausted) or exc.status not in REFUSED_STATUSES:
        raise exc


async def probe(post: Post, model: str) -> str:
    """The first mode the endpoint answers; FatalError naming what it lacks when none works."""
    prompt, continuations = _PROBE
    end = len(prompt) + len(continuations[0])

    async def echo_batch() -> None:
        body = await post("/completions", echo_payload(model, [prompt + c for c in continuations]))
        choices = body.get("choices") or []
        if len(choices) != len(continuations):
            raise Refused("/completions answers a list of prompts with one choice")
        echo_score(choices[0], len(prompt), end)

    async def echo_single() -> None:
        body = await post("/completions", echo_payload(model, prompt + continuations[0]))
        echo_score((body.get("choices") or [{}])[0], len(prompt), end)

    async def chat_top() -> None:
        chat_top_scores(await post("/chat/completions", chat_payload(model, prompt)), ("yes",))

    failures = []
    tries = ((ECHO_BATCH, echo_batch), (ECHO_SINGLE, echo_single), (CHAT_TOP, chat_top))
    for mode, attempt in tries:
        try:
            await attempt()
            return mode
        except LLMError as exc:
            _refusal(exc)
            failures.append(f"{mode}: {exc.reason}")
        except Refused as exc:
            failures.append(f"{mode}: {exc}")
    raise FatalError(
        "the endpoint gives no log-likelihoods (" + "; ".join(failures) + ")",
        hint=GENERATE_HINT,
    )


HOW = {
    ECHO_BATCH: "echoed logprobs, a list of prompts per request",
    ECHO_SINGLE: "echoed logprobs, one request per label",
    CHAT_TOP: "the first answer token's top_logprobs",
}


def public_url(url: str) -> str:
    """``url`` without credentials or query (what may be written to disk)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


class EndpointMemory:
    """The probed mode of one endpoint + model, in ``endpoint.json`` (None: in memory only).

    ``on_request`` is told of each probe request sent: no call's answer bills them, so the
    journal counts them apart (``api_stats.requests`` is every request the server saw);
    ``on_probed`` of the mode found, to say it (the run's header could not know it yet).
    """

    def __init__(
        self,
        path: Path | None,
        base_url: str,
        model: str,
        on_request: Callable[[], None] | None = None,
        on_probed: Callable[[str], None] | None = None,
    ):
        self.path = path
        self.base_url = public_url(base_url)
        self.model = model
        self.on_request = on_request
        self.on_probed = on_probed
        self._mode: str | None = None

    def sent(self) -> None:
        """A probe request goes out."""
        if self.on_request is not None:
            self.on_request()

    def recall(self) -> str | None:
        """The saved mode for this endpoint and model (another one's is probed anew)."""
        if self._mode is None and self.path is not None and self.path.exists():
            try:
                record = EndpointRecord.from_json(json.loads(read_text(self.path)))
            except (OSError, ValueError, SchemaError, PathRefused):
                return None
            same = (record.base_url, record.model) == (self.base_url, self.model)
            if same and record.loglik in MODES:
                self._mode = record.loglik
        return self._mode

    def remember(self, mode: str) -> None:
        self._mode = mode
        if self.on_probed is not None:
            self.on_probed(mode)
        if self.path is not None:
            record = EndpointRecord(self.base_url, self.model, mode, time.time())
            atomic_write_text(self.path, json.dumps(record.to_json(), indent=2) + "\n")


@runtime_checkable
class Probing(Protocol):
    """A backend that probes its endpoint and keeps the result where it is told."""

    def use_endpoint(self, memory: EndpointMemory) -> None: ...
