"""Endpoint failures over real HTTP, with the client (or engine) in-process: Retry-After,
400s, hung requests, and the adaptive limiter under an in-flight ceiling."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.config import Config
from evoprompt.llm.client import LLMClient
from evoprompt.llm.errors import FatalError
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.openai_http import OpenAIBackend
from evoprompt.llm.retry import RetryPolicy
from evoprompt.llm.types import LLMRequest
from evoprompt.runner.experiment import Experiment
from evoprompt.testing.server import FakeLLMServer

QUESTION = LLMRequest(kind="chat", model="m", messages=(("user", "Say hi\n\nInput: x\nAnswer:"),))


def client_for(
    server: FakeLLMServer,
    *,
    attempts: int = 3,
    timeout: float = 5.0,
    delay: float = 0.01,
    max_outage: float = 0.0,
) -> LLMClient:
    return LLMClient(
        OpenAIBackend(server.url, "sk-test", timeout=timeout, concurrency=4),
        Journal(None),
        policy=RetryPolicy(attempts, delay, "exponential", cap=5.0),
        limiter=AdaptiveLimiter(4),
        max_outage=max_outage,
    )


async def timed_call(client: LLMClient, request: LLMRequest = QUESTION) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        return await client.call(request), time.monotonic() - started
    finally:
        await client.aclose()


def test_retry_after_is_honoured() -> None:
    with FakeLLMServer() as server:
        server.set_faults(p_429=1.0, retry_after="1")

        async def scenario() -> float:
            client = client_for(server)
            call = asyncio.ensure_future(timed_call(client))
            # Lift the fault once the first 429 went out: the retry, a second later, succeeds.
            while not server.stats().get("status_429"):
                await asyncio.sleep(0.01)
            server.set_faults(p_429=0.0)
            _, elapsed = await call
            return elapsed

        elapsed = asyncio.run(scenario())
        counts = server.stats()
    assert counts["status_429"] == 1 and counts["answered"] == 1
    assert elapsed >= 0.95  # the retry delay alone would be 0.01 s
    assert elapsed < 3 * 1.0  # and the wait is the header's second, not more


def test_400_is_not_retried() -> None:
    with FakeLLMServer() as server:
        server.set_faults(fail_400=True)
        with pytest.raises(FatalError, match="HTTP 400"):
            asyncio.run(timed_call(client_for(server, attempts=5)))
        assert server.stats()["requests"] == 1


def test_hung_request_times_out_and_is_retried() -> None:
    timeout, hang = 0.5, 30.0
    with FakeLLMServer() as server:
        server.set_faults(hang_first=1, hang_s=hang)
        response, elapsed = asyncio.run(timed_call(client_for(server, timeout=timeout)))
        assert response.text
        assert server.stats()["seen"] == 2  # the hung request, then its retry
    assert timeout <= elapsed < 3 * 2 * timeout  # far below the hang: the timeout cut it off


def test_adaptive_concurrency_settles_under_an_in_flight_ceiling(tmp_path: Path) -> None:
    ceiling = 4
    with FakeLLMServer() as server:
        server.set_faults(max_inflight=ceiling, latency=0.02)
        config = Config(
            population_size=4,
            max_generations=1,
            dev_size=64,
            concurrency=32,
            max_retries=20,
            retry_delay=0.01,
            backend="openai",
            scorer="generate",
            model="m",
            base_url=server.url,
            result_dir=str(tmp_path),
        )

        async def scenario() -> tuple[int, int]:
            experiment = Experiment(config, tmp_path / "aimd", "sk-test")
            experiment.write_config()
            engine = experiment.build_engine(ExperimentState.new("aimd", config.seed))
            try:
                await engine.run()
            finally:
                await experiment.aclose()
            limiter = experiment.client.limiter
            return limiter.limit, limiter.peak

        limit, _ = asyncio.run(scenario())
        counts = server.stats()
    refused = counts.get("status_429", 0)
    assert refused / counts["requests"] < 0.10
    assert 1 <= limit <= 2 * ceiling


def test_a_call_answered_after_an_outage_is_one_answered_call_probed_cheaply() -> None:
    """The call's retries run out while the endpoint is down; it rides the outage out and is
    answered: one call, succeeded, not also failed; every completion request the server saw is
    in ``requests``; the outage was probed with GET /models, one at a time, and no completion
    request was sent while the model list said the server was still away."""
    with FakeLLMServer() as server:

        async def scenario() -> dict[str, Any]:
            client = client_for(server, max_outage=60.0)
            await client.call(QUESTION)  # the endpoint answered in this run: outages are ridden
            server.set_faults(down=True)
            call = asyncio.ensure_future(
                client.call(LLMRequest(kind="chat", model="m", messages=(("user", "later"),)))
            )
            while server.stats().get("models", 0) < 3 and not call.done():
                await asyncio.sleep(0.01)
            down_posts = server.stats()["seen"]
            server.set_faults(down=False)
            await call
            await client.aclose()
            stats = client.journal.stats()
            stats["posts_while_probing"] = down_posts - 1 - 3  # the first call, the 3 attempts
            return stats

        stats = asyncio.run(scenario())
        counts = server.stats()
    assert (stats["calls"], stats["succeeded"], stats["failed"]) == (2, 2, 0)
    assert stats["retried"] == 3  # 3 failed attempts before the outage, then the probe's
    assert stats["posts_while_probing"] == 0
    assert stats["requests"] == counts["seen"]
    assert stats["outage_probes"] == counts["models"] >= 3
    assert counts["peak_models_inflight"] == 1
