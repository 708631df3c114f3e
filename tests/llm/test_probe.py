"""Log-likelihoods by capability: the probe, its fallbacks, its memory, and fatal shapes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.journal import Journal
from evoprompt.llm.client import LLMClient
from evoprompt.llm.errors import FatalError, TransientError
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.openai_http import OpenAIBackend
from evoprompt.llm.probe import (
    CHAT_TOP,
    ECHO_BATCH,
    ECHO_SINGLE,
    EndpointMemory,
    chat_top_scores,
)
from evoprompt.llm.retry import RetryPolicy
from evoprompt.llm.shapes import ShapeWatch
from evoprompt.llm.types import LLMRequest
from evoprompt.testing.server import FakeLLMServer

TEXT = "The vegan menu is creative and delicious, even my meat-loving friends were impressed."
LABELS = (" negative", " positive")


def loglik(text: str) -> LLMRequest:
    prompt = f"Classify the sentiment carefully as an expert.\n\nInput: {text}\nAnswer:"
    return LLMRequest(kind="loglik", model="m", prompt=prompt, continuations=LABELS)


async def ask(server: FakeLLMServer, memory: EndpointMemory, *texts: str) -> list[Any]:
    backend = OpenAIBackend(server.url, "k", timeout=5, concurrency=4)
    backend.use_endpoint(memory)
    client = LLMClient(
        backend, Journal(None), policy=RetryPolicy(3, 0.01), limiter=AdaptiveLimiter(4)
    )
    try:
        return [(await client.call(loglik(t))).logprobs for t in texts]
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("faults", "mode", "requests_per_call"),
    [
        ({}, ECHO_BATCH, 1),
        ({"refuse_lists": True}, ECHO_SINGLE, 2),
        ({"refuse_echo": True}, CHAT_TOP, 1),
    ],
)
def test_the_probe_finds_what_the_endpoint_offers(
    tmp_path: Path, faults: dict[str, Any], mode: str, requests_per_call: int
) -> None:
    where = tmp_path / "endpoint.json"
    with FakeLLMServer() as server:
        server.set_faults(**faults)
        memory = EndpointMemory(where, server.url, "m")
        scores = asyncio.run(ask(server, memory, TEXT, "N/A"))
        probe_requests = server.stats()["requests"] - 2 * requests_per_call
    assert json.loads(where.read_text())["loglik"] == mode
    assert 1 <= probe_requests <= 3  # one try per mode up to the one that works
    answered, baseline = scores
    assert len(answered) == 2 and answered[0] != answered[1]  # the labels are told apart
    assert baseline[0] == baseline[1]  # after "N/A" the fixture prefers neither label


def test_a_resume_recalls_the_mode_and_never_probes_again(tmp_path: Path) -> None:
    where = tmp_path / "endpoint.json"
    with FakeLLMServer() as server:
        server.set_faults(refuse_lists=True)
        first = asyncio.run(ask(server, EndpointMemory(where, server.url, "m"), TEXT))
        before = server.stats()["requests"]
        again = asyncio.run(ask(server, EndpointMemory(where, server.url, "m"), TEXT))
        assert server.stats()["requests"] - before == 2  # the two echo requests, no probe
    assert first == again
    assert "@" not in where.read_text()


def test_nothing_offered_fails_fast_naming_what_is_missing(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        server.set_faults(refuse_echo=True, no_chat_logprobs=True)
        with pytest.raises(FatalError) as caught:
            asyncio.run(ask(server, EndpointMemory(None, server.url, "m"), TEXT))
        assert server.stats()["requests"] == 3  # one per mode, no retries
    assert "no top_logprobs" in caught.value.reason and "echo" in caught.value.reason
    assert "--scorer generate" in caught.value.hint


def test_an_outage_during_the_probe_is_retried_not_taken_as_a_verdict() -> None:
    with FakeLLMServer() as server:
        server.set_faults(down=True)
        with pytest.raises(Exception) as caught:
            asyncio.run(ask(server, EndpointMemory(None, server.url, "m"), TEXT))
    assert not isinstance(caught.value, FatalError)  # 503: retries exhausted, resumable


def test_chat_top_logprobs_count_only_tokens_that_begin_a_label() -> None:
    top = [
        {"token": "Pos", "logprob": -1.0},
        {"token": " positive", "logprob": -1.0},
        {"token": "The", "logprob": -0.1},
        {"token": "neg", "logprob": -4.0},
    ]
    body = {"choices": [{"logprobs": {"content": [{"top_logprobs": top}]}}]}
    pos, neg, other = chat_top_scores(body, (" positive", " negative", " neutral"))
    assert pos == pytest.approx(-1.0 + 0.6931, abs=1e-3)  # two tokens start "positive"
    assert neg == -4.0 and other == -5.0  # unlisted: below the least listed


def test_a_shape_failing_alike_while_others_answer_is_fatal_not_an_outage() -> None:
    watch = ShapeWatch()
    listed = {"prompt": ["a", "b"], "echo": True}
    error = TransientError("HTTP 500: assert len(body.prompt) <= 1", status=500)
    assert watch.failed("/completions", listed, error) is error  # nothing answered yet
    watch.answered("/chat/completions", {"messages": []})
    assert watch.failed("/completions", listed, error) is error
    fatal = watch.failed("/completions", listed, error)
    assert isinstance(fatal, FatalError) and "not an outage" in fatal.hint
    down = TransientError("HTTP 503: service unavailable", status=503)
    assert all(watch.failed("/x", {}, down) is down for _ in range(5))  # an outage stays one
    watch.answered("/completions", listed)
    assert watch.failed("/completions", listed, error) is error  # it worked once: transient
