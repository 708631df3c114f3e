"""The promise in one fast test, for ``make check``: a GA run on the test endpoint killed with
SIGKILL mid-run and resumed ends with the summary of the uninterrupted run (the whole test
tier of it: tests/e2e/test_kill_resume.py, test_damaged_files.py and more)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import FAST_RETRY, cli_env, run_cli, start_cli, summary, wait_for

# What may differ between a killed-and-resumed run and an uninterrupted one: its name, how
# long things took, and the books (calls a kill lost in flight are paid again, counted).
BOOKS = ("experiment_id", "wall_s", "duration_s", "api_stats", "calls", "tokens", "cost_usd")


def decided(doc: Any) -> Any:
    """A summary without the BOOKS: everything the run chose and measured."""
    if isinstance(doc, dict):
        return {k: decided(v) for k, v in doc.items() if k not in BOOKS}
    if isinstance(doc, list):
        return [decided(v) for v in doc]
    return doc


ARGS = ["--population-size", "4", "--max-generations", "2", "--dev-size", "32", "--seed", "7"]
ARGS += ["--test-size", "32", *FAST_RETRY]


def test_a_run_killed_mid_run_resumes_to_the_uninterrupted_summary(tmp_path: Path) -> None:
    uninterrupted, victim = (
        [*ARGS, "--result-dir", str(tmp_path), "--experiment-id", name]
        for name in ("whole", "victim")
    )
    with FakeLLMServer() as quiet, FakeLLMServer(faults=Faults(latency=0.05)) as server:
        whole = start_cli(uninterrupted, cli_env(quiet))  # alongside: the wall time of one
        env = cli_env(server)
        proc = start_cli(victim, env)
        # mid-run: generation 1 saved (the random generator has moved on from its seed) and
        # more answered since (a kill with calls in flight)
        wait_for((tmp_path / "victim/checkpoints/gen1_batch0.json").exists, timeout=120)
        more = server.stats().get("answered", 0) + 5
        wait_for(lambda: proc.poll() is not None or server.stats().get("answered", 0) >= more)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        paid = dict(server.answered_bodies)
        done = run_cli(victim, env)
        again = sum(server.answered_bodies[body] - n for body, n in paid.items())
        _, err = whole.communicate(timeout=120)
        assert whole.returncode == 0, err
    assert done.returncode == 0, done.stderr
    doc = summary(tmp_path, "victim")
    assert decided(doc) == decided(summary(tmp_path, "whole"))
    assert doc["status"] == "finished" and doc["test"] is not None
    # Nothing answered before the kill is asked again, but the calls the kill cut off on the
    # wire (their answers never reached the journal): at most the 8 in flight.
    assert again <= doc["api_stats"]["lost_in_flight"] <= 8
