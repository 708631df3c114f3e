"""Endpoint failures over real HTTP: retries, Retry-After, timeouts, limits, budgets, fallbacks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.journal import Journal
from evoprompt.config import Config
from evoprompt.core.experiment import Experiment
from evoprompt.core.state import ExperimentState
from evoprompt.llm.client import LLMClient
from evoprompt.llm.errors import FatalError
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.openai_http import OpenAIBackend
from evoprompt.llm.retry import RetryPolicy
from evoprompt.llm.types import LLMRequest
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import (
    FAST_RETRY,
    SMALL,
    cli_env,
    make_server,
    outcome,
    resumes_with,
    run_cli,
    start_cli,
    summary,
    wait_for,
)

QUESTION = LLMRequest(kind="chat", model="m", messages=(("user", "Say hi\n\nInput: x\nAnswer:"),))


def client_for(
    server: FakeLLMServer, *, attempts: int = 3, timeout: float = 5.0, delay: float = 0.01
) -> LLMClient:
    return LLMClient(
        OpenAIBackend(server.url, "sk-test", timeout=timeout, concurrency=4),
        Journal(None),
        policy=RetryPolicy(attempts, delay, "exponential", cap=5.0),
        limiter=AdaptiveLimiter(4),
    )


async def timed_call(client: LLMClient, request: LLMRequest = QUESTION) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        return await client.call(request), time.monotonic() - started
    finally:
        await client.aclose()


def test_faulty_endpoint_gives_the_fault_free_result_and_counts_retries(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    server = make_server(p_500=0.15, p_429=0.10, retry_after="1", p_nonjson=0.03)
    try:
        done = run_cli(
            [
                *SMALL,
                "--retry-delay",
                "0.01",
                "--max-retries",
                "10",
                "--result-dir",
                str(tmp_path),
                "--experiment-id",
                "faulty",
            ],
            cli_env(server),
            timeout=300,
        )
        counts = server.stats()
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    doc = summary(tmp_path, "faulty")
    assert outcome(doc) == outcome(reference["summary"])
    faults = counts.get("status_500", 0) + counts.get("status_429", 0) + counts.get("status_200", 0)
    stats = doc["api_stats"]
    assert stats["retried"] == faults > 0
    assert stats["succeeded"] == counts["answered"]
    assert stats["retry_success_rate"] == 1.0
    assert "API call failed (attempt 1/10): HTTP 500" in done.stderr
    # throttled: far fewer notices than retries
    assert done.stderr.count("API call failed") < stats["retried"] / 2


def test_wrong_key_stops_fast_with_one_clear_line(tmp_path: Path) -> None:
    secret = "sk-wrong-0123456789abcdef"
    with FakeLLMServer() as server:
        server.set_faults(api_key="sk-right")
        started = time.monotonic()
        done = run_cli(
            [*SMALL, "--result-dir", str(tmp_path), "--experiment-id", "auth"],
            cli_env(server, key=secret),
            timeout=30,
        )
        elapsed = time.monotonic() - started
        sent = server.stats()["requests"]
    assert done.returncode == 2
    assert elapsed < 10
    assert sent <= 3
    assert "authentication failed (HTTP 401)" in done.stderr
    assert "OPENAI_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr
    for path in (tmp_path / "auth").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in done.stderr + done.stdout


def test_retry_after_is_honoured() -> None:
    with FakeLLMServer() as server:
        server.set_faults(p_429=1.0, retry_after="1")

        async def scenario() -> float:
            client = client_for(server)
            call = asyncio.ensure_future(timed_call(client))
            await asyncio.sleep(0.3)
            server.set_faults(p_429=0.0)
            _, elapsed = await call
            return elapsed

        elapsed = asyncio.run(scenario())
    assert 0.95 <= elapsed < 1.8  # the retry delay alone would be 0.01 s


def test_400_is_not_retried() -> None:
    with FakeLLMServer() as server:
        server.set_faults(fail_400=True)
        with pytest.raises(FatalError, match="HTTP 400"):
            asyncio.run(timed_call(client_for(server, attempts=5)))
        assert server.stats()["requests"] == 1


def test_hung_request_times_out_and_is_retried() -> None:
    with FakeLLMServer() as server:
        server.set_faults(hang_first=1, hang_s=3.0)
        response, elapsed = asyncio.run(timed_call(client_for(server, timeout=0.5)))
        assert response.text
        assert 0.5 <= elapsed < 2.5
        assert server.stats()["seen"] == 2


def test_dead_endpoint_exits_75_and_the_same_command_finishes_later(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    server = make_server()
    try:
        command = [*SMALL, *FAST_RETRY, "--result-dir", str(tmp_path), "--experiment-id", "down"]
        proc = start_cli(command, cli_env(server))
        wait_for((tmp_path / "down" / "checkpoints" / "gen1_batch0.json").exists, timeout=60)
        server.set_faults(down=True)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 75, stderr
        assert "kept failing: HTTP 503" in stderr
        # one call's attempts, named as such (the bar's retries count all calls)
        assert "(a call failed all 3 of its attempts)" in stderr
        assert resumes_with("down", stderr)
        assert summary(tmp_path, "down")["status"] == "error"
        server.set_faults(down=False)
        again = run_cli(command, cli_env(server))
        assert again.returncode == 0, again.stderr
    finally:
        server.stop()
    assert outcome(summary(tmp_path, "down")) == outcome(reference["summary"])


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


def test_budget_stop_then_resume_with_a_larger_budget(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        env = cli_env(server)
        base = [*SMALL, *FAST_RETRY, "--result-dir", str(tmp_path), "--experiment-id", "budget"]
        stopped = run_cli([*base, "--max-calls", "500"], env)
        assert stopped.returncode == 75, stopped.stderr
        assert "call budget reached (500 calls" in stopped.stderr
        assert "Resume with:" in stopped.stderr
        assert server.stats()["answered"] == 500
        assert summary(tmp_path, "budget")["api_stats"]["calls"] == 500
        finished = run_cli([*base, "--max-calls", "0"], env)
        assert finished.returncode == 0, finished.stderr
        counts = server.stats()
    doc = summary(tmp_path, "budget")
    assert outcome(doc) == outcome(reference["summary"])
    assert doc["api_stats"]["prompt_tokens"] == counts["prompt_tokens"]
    assert doc["api_stats"]["completion_tokens"] == counts["completion_tokens"]
    assert doc["api_stats"]["calls"] == counts["answered"]


def test_fallback_model_answers_when_the_primary_keeps_failing(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        server.set_faults(fail_model="primary")
        done = run_cli(
            [
                *SMALL,
                *FAST_RETRY,
                "--max-generations",
                "1",
                "--model",
                "primary",
                "--fallback-model",
                "backup",
                "--result-dir",
                str(tmp_path),
                "--experiment-id",
                "fb",
            ],
            cli_env(server),
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    stats = summary(tmp_path, "fb")["api_stats"]
    assert stats["fallback_calls"] == stats["succeeded"] > 0
    assert stats["retried"] >= 3 * stats["fallback_calls"]
