"""The dry run's completion tokens on a task with worked answers (arithmetic, exact match):
measured by ``--pilot N`` and close to what the run then pays; read from the journal for a
fork and a test phase; otherwise ``max_tokens``, labelled an upper bound, which a budget check
does not refuse a run for. Against the real loopback server, which counts every request."""

from __future__ import annotations

import json
from pathlib import Path

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, run_cli, summary

ARITH = ["--config", "configs/arith.toml", "--max-generations", "3", "--retry-delay", "0.01"]
SMALL_ARITH = [
    *("--config", "configs/arith.toml", "--population-size", "4", "--max-generations", "2"),
    *("--dev-size", "24", "--test-size", "24", "--retry-delay", "0.01", "--no-prune"),
]


def test_a_pilot_measures_worked_answers_and_the_estimate_holds_within_25_percent(
    tmp_path: Path,
) -> None:
    result_dir = tmp_path / "result"
    args = [*ARITH, "--result-dir", str(result_dir)]
    with FakeLLMServer() as fake:
        refused = run_cli([*args, "--pilot", "8"], cli_env(fake))  # paid calls: only on request
        assert refused.returncode == 2 and "--pilot works with --dry-run only" in refused.stderr
        assert fake.counts["requests"] == 0
        plan = run_cli([*args, "--dry-run", "--pilot", "8", "--json"], cli_env(fake))
        assert plan.returncode == 0, plan.stderr
        assert fake.counts["requests"] == 8  # the pilot's calls, and no other
        assert "8 paid scoring calls" in plan.stderr and "pays for them again" in plan.stderr
        assert not result_dir.exists()  # no experiment folder, no journal
        pilot_tokens = fake.counts["completion_tokens"]
        done = run_cli([*args, "--experiment-id", "real"], cli_env(fake), timeout=300)
        assert done.returncode == 0, done.stderr
    bill = json.loads(plan.stdout)
    assert bill["basis"] == "pilot of 8 calls" and bill["upper_bound"] is False
    assert bill["pilot"]["calls"] == 8 and bill["pilot"]["completion_tokens"] == pilot_tokens > 0
    actual = summary(result_dir, "real")["api_stats"]["completion_tokens"]
    assert abs(bill["completion_tokens"] - actual) <= 0.25 * actual, (bill, actual)


def test_without_a_pilot_open_answers_are_billed_as_a_labelled_upper_bound(
    tmp_path: Path,
) -> None:
    result_dir = tmp_path / "result"
    args = [*SMALL_ARITH, "--result-dir", str(result_dir)]
    with FakeLLMServer() as fake:
        plan = run_cli([*args, "--dry-run", "--json"], cli_env(fake))
        text = run_cli([*args, "--dry-run"], cli_env(fake))
        assert fake.counts["requests"] == 0
        bill = json.loads(plan.stdout)
        initial = bill["initial_population"]
        # a token budget the upper bound says cannot pay for generation 0, though the answers
        # are far shorter: warned about, not refused
        budget = initial["prompt_tokens"] + initial["completion_tokens"] - 1
        done = run_cli(
            [*args, "--experiment-id", "capped", "--max-tokens-total", str(budget)], cli_env(fake)
        )
        whole = run_cli([*args, "--experiment-id", "real"], cli_env(fake))
        assert whole.returncode == 0, whole.stderr
    assert bill["upper_bound"] is True and bill["basis"].startswith("upper bound")
    assert "upper bound" in text.stdout and "--pilot N" in text.stdout
    assert "cannot cover even the initial population" not in done.stderr
    assert "if every answer runs to max_tokens" in done.stderr
    assert done.returncode in (0, 75) and "generation 0: best" in done.stderr, done.stderr
    actual = summary(result_dir, "real")["api_stats"]["completion_tokens"]
    assert bill["completion_tokens"] >= actual


def test_fork_and_test_dry_runs_bill_from_the_journal_s_own_answer_lengths(
    tmp_path: Path,
) -> None:
    result_dir = tmp_path / "result"
    args = [*SMALL_ARITH, "--result-dir", str(result_dir)]
    with FakeLLMServer() as fake:
        env = cli_env(fake)
        done = run_cli([*args, "--experiment-id", "src"], env)
        assert done.returncode == 0, done.stderr
        fork_args = ["fork", "src", "--at-generation", "2", *args, "--max-generations", "4"]
        plan = run_cli([*fork_args, "--experiment-id", "longer", "--dry-run", "--json"], env)
        tested = run_cli(
            ["test", "src", "--test-size", "40", "--result-dir", str(result_dir), "--dry-run"],
            env,
        )
        forked = run_cli([*fork_args, "--experiment-id", "longer"], env)
        assert forked.returncode == 0, forked.stderr
    bill = json.loads(plan.stdout)
    assert plan.returncode == 0 and tested.returncode == 0, plan.stderr + tested.stderr
    assert bill["basis"].startswith("journal (") and bill["upper_bound"] is False
    assert "completion tokens of scoring answers: journal (" in tested.stdout
    paid = summary(result_dir, "longer")["api_stats"]["completion_tokens"]  # the fork's own
    assert abs(bill["completion_tokens"] - paid) <= 0.25 * paid, (bill, paid)
