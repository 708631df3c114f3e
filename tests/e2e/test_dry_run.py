"""``--dry-run``: the bill of a run with no call and no file, close to what the run then pays;
and a budget that cannot pay for the initial population refused before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import FAST_RETRY, SMALL, cli_env, run_cli, summary


def test_a_dry_run_calls_nothing_writes_nothing_and_estimates_the_calls(tmp_path: Path) -> None:
    result_dir = tmp_path / "result"
    args = [*SMALL, *FAST_RETRY, "--result-dir", str(result_dir), "--no-prune"]
    with FakeLLMServer() as fake:
        plan = run_cli([*args, "--dry-run", "--json"], cli_env(fake))
        assert plan.returncode == 0, plan.stderr
        assert fake.counts["requests"] == 0
        assert not result_dir.exists()
        bill = json.loads(plan.stdout)
        assert {"calls", "prompt_tokens", "completion_tokens", "cost_usd", "phases"} <= set(bill)
        assert sum(p["calls"] for p in bill["phases"]) == bill["calls"]
        text = run_cli([*args, "--dry-run"], cli_env(fake))
        assert text.returncode == 0 and "gen 0 scoring" in text.stdout
        assert fake.counts["requests"] == 0
        done = run_cli([*args, "--experiment-id", "real"], cli_env(fake))
        assert done.returncode == 0, done.stderr
    actual = summary(result_dir, "real")["api_stats"]["calls"]
    assert abs(bill["calls"] - actual) <= 0.1 * actual
    # the endpoint counts the messages' text and the chat format, as a real server does
    for figure in ("prompt_tokens", "completion_tokens"):
        assert abs(bill[figure] - fake.counts[figure]) <= 0.1 * fake.counts[figure], figure


def test_a_loglik_dry_run_bills_a_request_per_label_on_an_echo_single_endpoint(
    tmp_path: Path,
) -> None:
    result_dir = tmp_path / "result"
    args = ["--scorer", "loglik", "--population-size", "4", "--max-generations", "1"]
    args += ["--dev-size", "8", "--test-size", "0", *FAST_RETRY, "--no-prune"]
    args += ["--result-dir", str(result_dir)]
    with FakeLLMServer() as fake:
        fake.set_faults(refuse_lists=True)  # llama.cpp's: one prompt per request
        plan = run_cli([*args, "--dry-run", "--json"], cli_env(fake))
        assert plan.returncode == 0, plan.stderr
        text = run_cli([*args, "--dry-run"], cli_env(fake))
        assert "one request per label" in text.stdout
        done = run_cli([*args, "--experiment-id", "ll"], cli_env(fake))
        assert done.returncode == 0, done.stderr
        # the header names the scorer; the mode once the first call probed it
        assert "scored by loglik (the endpoint probed at the first call)" in done.stderr
        assert "scoring by loglik: echo_single (echoed logprobs, one request per label)" in (
            done.stderr
        )
    bill = json.loads(plan.stdout)
    assert bill["loglik_per_label"] is True
    stats = summary(result_dir, "ll")["api_stats"]
    assert abs(bill["calls"] - stats["calls"]) <= 0.1 * stats["calls"]
    assert stats["requests"] == fake.counts["seen"]  # the probe's requests included


def test_a_budget_short_of_the_initial_population_is_refused_before_starting(
    tmp_path: Path,
) -> None:
    result_dir = tmp_path / "result"
    with FakeLLMServer() as fake:
        args = [*SMALL, "--result-dir", str(result_dir)]
        done = run_cli([*args, "--max-calls", "50"], cli_env(fake))
        assert done.returncode == 2
        assert (
            done.stderr.strip().splitlines() == [done.stderr.strip().splitlines()[0]]
            and "cannot cover even the initial population" in done.stderr
        )
        assert fake.counts["requests"] == 0 and not result_dir.exists()
        plan = run_cli([*args, "--max-calls", "500", "--dry-run", "--json"], cli_env(fake))
    bill = json.loads(plan.stdout)
    assert bill["refused"] is None and "may not cover the whole run" in bill["warning"]
