"""Endpoint failures seen by the real CLI: retries, a wrong key, a dead endpoint, budgets and
fallbacks (the client-level cases are in tests/llm/test_failures.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

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
from tests.e2e.conftest import tree_hashes


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


def test_a_key_no_header_can_carry_is_refused_unshown_and_leaves_nothing(tmp_path: Path) -> None:
    args = [*SMALL, "--result-dir", str(tmp_path), "--max-generations"]  # the last one counts
    with FakeLLMServer() as server:
        first = run_cli([*args, "0", "--experiment-id", "kept"], cli_env(server))
        assert first.returncode == 0, first.stderr
        before = tree_hashes(tmp_path / "kept")
        bad = cli_env(server, key="sk-line\rbreak")
        fresh = run_cli([*args, "0"], bad)  # a new experiment: its reserved folder goes again
        extended = run_cli([*args, "1", "--experiment-id", "kept"], bad)
        sent = server.stats()["requests"]
    for done in (fresh, extended):
        assert done.returncode == 2, done.stderr
        assert "error: OPENAI_API_KEY holds a character an HTTP header cannot carry" in done.stderr
        assert "sk-line" not in done.stderr + done.stdout and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert tree_hashes(tmp_path / "kept") == before
    assert sent == first_requests(tmp_path / "kept")


def first_requests(exp_dir: Path) -> int:
    """Requests the first (good) run made: every one of them is in its API statistics."""
    doc = json.loads((exp_dir / "summary.json").read_text())
    return int(doc["api_stats"]["succeeded"]) + int(doc["api_stats"]["failed"])


def test_dead_endpoint_exits_75_and_the_same_command_finishes_later(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    server = make_server()
    try:
        command = [*SMALL, *FAST_RETRY, "--result-dir", str(tmp_path), "--experiment-id", "down"]
        proc = start_cli([*command, "--max-outage", "1"], cli_env(server))
        wait_for((tmp_path / "down" / "checkpoints" / "gen1_batch0.json").exists, timeout=60)
        server.set_faults(down=True)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 75, stderr
        assert "stayed unreachable for 1s (--max-outage): HTTP 503" in stderr
        assert resumes_with("down", stderr)
        assert summary(tmp_path, "down")["status"] == "error"
        server.set_faults(down=False)
        again = run_cli(command, cli_env(server))
        assert again.returncode == 0, again.stderr
    finally:
        server.stop()
    assert outcome(summary(tmp_path, "down")) == outcome(reference["summary"])


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
