"""An operator model that ignores the sampling seed, or never gives a new prompt: start-up
re-asks with different words, goes on with a smaller population when it must, and stops with
one line (no resume command that would repeat the same answers) only when the strategy cannot
work with so few prompts."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from evoprompt.checkpoint.layout import Layout
from tests.conftest import (
    FAST_RETRY,
    make_server,
    outcome,
    resumes_with,
    run_cli,
    start_cli,
    summary,
    wait_for,
)
from tests.conftest import cli_env as env_of

ARGS = ["--max-generations", "2", "--dev-size", "16", "--seed", "7", *FAST_RETRY]


def _run(tmp_path: Path, exp_id: str, *extra: str, **faults: bool) -> tuple[int, str]:
    server = make_server(**faults)
    try:
        done = run_cli(
            [*ARGS, "--result-dir", str(tmp_path), "--experiment-id", exp_id, *extra],
            env_of(server),
        )
    finally:
        server.stop()
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr


def _initial(tmp_path: Path, exp_id: str) -> list[str]:
    rows = [json.loads(line) for line in (tmp_path / exp_id / "population.jsonl").open()]
    return [row["text"] for row in rows if row["generation"] == 0]


def test_a_seed_deaf_endpoint_fills_a_population_of_ten_from_two_seed_prompts(
    tmp_path: Path,
) -> None:
    code, err = _run(tmp_path, "deaf", "--population-size", "10", ignore_seed=True)
    assert code == 0, err
    initial = _initial(tmp_path, "deaf")
    assert len(initial) == len(set(initial)) == 10
    assert "warning" not in err
    # the resume command of a finished run works and says so
    again = run_cli(["--result-dir", str(tmp_path), "--experiment-id", "deaf"], env_of(None))
    assert again.returncode == 0 and "already finished" in again.stderr


def test_an_echoing_endpoint_goes_on_with_the_seed_prompts_alone(tmp_path: Path) -> None:
    code, err = _run(tmp_path, "echo", "--population-size", "6", echo_parent=True)
    assert code == 0, err
    assert "going on with a population of 2 instead of 6" in err
    assert len(_initial(tmp_path, "echo")) == 2
    doc = summary(tmp_path, "echo")
    assert [g["generation"] for g in doc["generations"]] == [0, 1, 2]


def test_de_goes_on_with_three_prompts_and_resumes_identically(tmp_path: Path) -> None:
    seeds = ["--seed-prompts", "Label the text.", "Pick the label.", "Which label fits?"]
    code, err = _run(tmp_path, "de3", "--algorithm", "de", *seeds, echo_parent=True)
    assert code == 0, err
    assert "going on with a population of 3 instead of 6" in err
    # the same experiment extended by one generation, resumed with the printed command's id
    code, err = _run(tmp_path, "de3", "--max-generations", "3", echo_parent=True)
    assert code == 0, err
    assert len(summary(tmp_path, "de3")["generations"]) == 4


def test_de_with_too_few_prompts_stops_with_one_line_and_no_resume_that_would_loop(
    tmp_path: Path,
) -> None:
    code, err = _run(tmp_path, "de2", "--algorithm", "de", echo_parent=True)
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "DE needs at least 3" in errors[0]
    assert "new experiment" in errors[0] and "add more seed_prompts to the config" not in err
    assert not resumes_with("de2", err) and "Resume with" not in err


def test_a_seed_deaf_start_stopped_during_the_re_asks_resumes_to_the_same_result(
    tmp_path: Path,
) -> None:
    code, err = _run(tmp_path, "whole", "--population-size", "8", ignore_seed=True)
    assert code == 0, err
    args = [*ARGS, "--population-size", "8", "--result-dir", str(tmp_path)]
    server = make_server(ignore_seed=True, latency=0.2)
    try:
        proc = start_cli([*args, "--experiment-id", "cut"], env_of(server))
        # 6 slots asked twice in parallel, then the re-asks one at a time: stop in their midst
        wait_for(lambda: server.stats().get("answered_evolve", 0) >= 12, timeout=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and resumes_with("cut", err), err
        assert not Layout(tmp_path / "cut").batch(0, 0).exists()  # stopped before scoring
        server.set_faults(latency=0.0)
        again = run_cli([*args, "--experiment-id", "cut"], env_of(server))
    finally:
        server.stop()
    assert again.returncode == 0, again.stderr
    assert outcome(summary(tmp_path, "cut")) == outcome(summary(tmp_path, "whole"))
