"""Whole runs of both algorithms over real HTTP against the test endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import FAST_RETRY, SMALL, cli_env, outcome, run_cli, summary


def run(tmp: Path, exp_id: str, *extra: str) -> dict[str, Any]:
    with FakeLLMServer() as fake:
        done = run_cli(
            [*SMALL, *FAST_RETRY, "--result-dir", str(tmp), "--experiment-id", exp_id, *extra],
            cli_env(fake),
        )
    assert done.returncode == 0, done.stderr
    return summary(tmp, exp_id)


@pytest.mark.parametrize("algorithm", ["ga", "de"])
def test_run_finishes_improves_and_is_reproducible(tmp_path: Path, algorithm: str) -> None:
    first = run(tmp_path, "one", "--algorithm", algorithm)
    second = run(tmp_path, "two", "--algorithm", algorithm)

    assert first["status"] == "finished"
    best = [g["best_fitness"] for g in first["generations"]]
    assert len(best) == 4  # generation 0 + three evolved generations
    assert best == sorted(best), "the best fitness of a generation never decreases"
    assert best[-1] > best[0], "the test endpoint rewards evolved prompts"
    assert outcome(first) == outcome(second)

    folder = tmp_path / "one"
    table = pd.read_csv(folder / "generations.csv")
    assert list(table["best_fitness"]) == best
    population = pd.read_json(folder / "population.jsonl", lines=True)
    assert first["best_prompt"] in set(population["text"])
    evolved = population[population["generation"] > 0]
    assert set(evolved["operator"]) == {algorithm}
    assert all(len(p) >= 2 for p in evolved["parents"])
    assert len(set(population["text"])) == len(population), "no prompt is scored twice"
    batch_texts = {
        entry["text"]
        for path in (folder / "checkpoints" / "batches").glob("*.json")
        for entry in json.loads(path.read_text())["prompts"]
    }
    # Every fully scored prompt is listed; a pruned one may be missing (its answers are journaled).
    whole = population[population["pruned"] != True] if "pruned" in population else population  # noqa: E712
    assert set(whole["text"]) <= batch_texts <= set(population["text"])
    stats = first["api_stats"]
    assert stats["calls"] == stats["succeeded"] > 0 and stats["failed"] == 0


def test_no_checkpoint_writes_no_checkpoint_files(tmp_path: Path) -> None:
    doc = run(tmp_path, "plain", "--no-checkpoint", "--max-generations", "1")
    folder = tmp_path / "plain"
    assert doc["status"] == "finished"
    assert not (folder / "checkpoints").exists()
    assert not list(folder.glob("journal.sqlite*"))


def test_default_config_file_matches_builtin_defaults(tmp_path: Path) -> None:
    a = run(tmp_path, "builtin", "--max-generations", "1")
    b = run(tmp_path, "file", "--config", "configs/default.toml", "--max-generations", "1")
    assert outcome(a) == outcome(b)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = cli_env(None)
    cases = {
        ("--dataset", str(tmp_path / "missing.csv")): "not found",
        ("--algorithm", "pso"): "invalid choice",
        ("--config", str(tmp_path / "nope.toml")): "not found",
        ("--dev-size", "5000"): "larger than the dataset",
    }
    (tmp_path / "bad.toml").write_text("populaton_size = 3\n")
    cases[("--config", str(tmp_path / "bad.toml"))] = "did you mean 'population_size'"
    one_label = tmp_path / "one_label.csv"
    one_label.write_text("text,label\ngood,pos\nfine,pos\n")
    cases[("--dataset", str(one_label))] = (
        f"error: dataset {one_label} needs at least two labels, found ['pos']\n"
    )
    for args, message in cases.items():
        done = run_cli(
            [
                *args,
                "--result-dir",
                str(tmp_path),
                "--backend",
                "openai",
                "--base-url",
                "http://127.0.0.1:9/v1",
            ],
            env,
        )
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not [p for p in tmp_path.iterdir() if p.is_dir()], "nothing is created"


def test_loglik_scorer_over_an_endpoint(tmp_path: Path) -> None:
    # no test phase: the count below is of dev scoring and evolution calls
    doc = run(
        tmp_path, "loglik", "--scorer", "loglik", "--max-generations", "2", "--test-size", "0"
    )
    best = [g["best_fitness"] for g in doc["generations"]]
    assert doc["status"] == "finished"
    assert best == sorted(best) and best[-1] > best[0]
    # one echo request per sample plus one content-free baseline per prompt
    scored = sum(g["evaluated"] for g in doc["generations"])
    evolve = doc["api_stats"]["calls"] - scored * 65
    assert 0 < evolve <= 6 * 2 * 3


def test_duplicate_rows_are_paid_once_and_counted_exactly(tmp_path: Path) -> None:
    """Every row twice: a repeated text is one input (folded at load), so the dev set has the
    20 distinct texts, each asked once per prompt, and the spend equals the server's."""
    rows = pd.read_csv("evoprompt/data/sentiment.csv").head(20)
    data = tmp_path / "dupes.csv"
    pd.concat([rows, rows]).to_csv(data, index=False)
    with FakeLLMServer() as fake:
        done = run_cli(
            [
                "--dataset",
                str(data),
                "--dev-size",
                "20",
                "--population-size",
                "4",
                "--max-generations",
                "1",
                "--result-dir",
                str(tmp_path),
                "--experiment-id",
                "dupes",
                *FAST_RETRY,
            ],
            cli_env(fake),
        )
        counts = fake.stats()
    assert done.returncode == 0, done.stderr
    stats = summary(tmp_path, "dupes")["api_stats"]
    assert stats["calls"] == counts["answered"]
    assert stats["prompt_tokens"] == counts["prompt_tokens"]
    assert sum(n > 1 for n in fake.answered_bodies.values()) == 0
