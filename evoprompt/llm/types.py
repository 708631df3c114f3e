"""Value types that cross the LLM call path: requests, responses, usage, the backend protocol.

Requests are plain frozen data so that one canonical encoding of them can key the journal:
two requests with the same key are the same paid call.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Literal, Protocol, runtime_checkable

RequestKind = Literal["chat", "completion", "loglik"]
PER_MESSAGE, PER_REPLY = 4, 3  # a chat request's format tokens: a message's, the reply's


@dataclass(frozen=True)
class LLMRequest:
    """One logical LLM call.

    kind:
      - ``chat``: ``messages`` -> generated text (OpenAI chat completions).
      - ``completion``: ``prompt`` -> generated text (base-model continuation).
      - ``loglik``: ``prompt`` is a context; the answer is the summed log-probability of
        each of ``continuations`` appended to it (used to score labels without generation).
    site: for sampled calls (temperature > 0) the place in the experiment that made the call,
      e.g. ``gen3/child2/try0``; it keeps two identical sampled requests from sharing one
      journaled answer. Deterministic calls leave it empty so identical requests do share.
    """

    kind: RequestKind
    model: str
    messages: tuple[tuple[str, str], ...] = ()
    prompt: str = ""
    continuations: tuple[str, ...] = ()
    temperature: float = 0.0
    max_tokens: int = 64
    stop: tuple[str, ...] = ()
    site: str = ""

    def key(self) -> str:
        """Stable hex digest identifying this call in the journal (computed once: hot path)."""
        cached = self.__dict__.get("_key")
        if cached is None:
            fields_ = {f.name: getattr(self, f.name) for f in fields(self)}
            blob = json.dumps(fields_, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            cached = hashlib.sha256(blob.encode("utf-8")).hexdigest()
            object.__setattr__(self, "_key", cached)  # a memo, not a field: frozen stays true
        return cached

    def sample_seed(self) -> int:
        """A sampling seed derived from the request, so a re-sent sampled call can repeat
        its answer on servers that honour ``seed`` (OpenAI, vLLM, llama.cpp)."""
        return int(self.key()[:8], 16) % 2**31

    def with_model(self, model: str) -> LLMRequest:
        return LLMRequest(**{**asdict(self), "model": model})

    def estimated_tokens(self) -> int:
        """Rough token count for tokens-per-minute limiting and the dry run's bill: 4
        characters a token (the common rule for English; real tokenizers measured 4.1 to 4.8
        on the bundled tasks' prompts, about 4 on code and numbers), plus a chat request's
        format overhead as OpenAI documents it (3 a message and 1 for its role, 3 priming the
        reply; Llama 3's and Gemma's templates add about as many), plus ``max_tokens``."""
        chars = sum(len(c) for _, c in self.messages) + len(self.prompt)
        chars += sum(len(c) for c in self.continuations)
        overhead = PER_REPLY + PER_MESSAGE * len(self.messages) if self.messages else 0
        return chars // 4 + overhead + self.max_tokens


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class LLMResponse:
    """What a backend returned: generated ``text`` or per-continuation ``logprobs``."""

    text: str = ""
    logprobs: tuple[float, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str = ""

    def to_json(self) -> str:
        # Built by hand: asdict's recursive deep copy was a visible share of each journal write.
        usage = {
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
        }
        return json.dumps(
            {"text": self.text, "logprobs": self.logprobs, "usage": usage, "model": self.model},
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, blob: str) -> LLMResponse:
        raw = json.loads(blob)
        return cls(
            text=raw["text"],
            logprobs=tuple(raw["logprobs"]),
            usage=Usage(**raw["usage"]),
            model=raw.get("model", ""),
        )


class Backend(Protocol):
    """A transport that answers one request with one attempt; retries live above it.

    Backends raise :class:`evoprompt.llm.errors.LLMError` subclasses so that the retry
    policy can classify failures without knowing the transport.
    """

    name: str

    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Splitting(Protocol):
    """A backend that sends some calls as several requests (one label each), so the client can
    journal each request's answer as it arrives rather than hold them until the last."""

    def parts(self, request: LLMRequest) -> tuple[LLMRequest, ...]:
        """The requests ``request`` goes out as, each a call of its own; () when it goes out
        whole (or how the endpoint answers is not known yet)."""


@runtime_checkable
class Pinging(Protocol):
    """A backend with a cheap request that says whether its endpoint is back after an outage
    (probing with a call's own request re-sent an expensive one for nobody, again and again)."""

    async def ping(self) -> None:
        """Return when the endpoint answers at all; raise a retryable LLMError while it is
        away."""
