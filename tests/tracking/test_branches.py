"""Forks, rollbacks and back-fills in the default store (SQLite under the result folder, no
server): a fork is a new run tagged with its parent, a rollback ends the run with the steps it
moved aside marked and goes on in a new one, and ``track`` logs an untracked experiment once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import FAST_RETRY, SMALL, cli_env, run_cli, summary
from tests.tracking.conftest import history, runs_of
from tests.tracking.test_server import assert_steps_equal_summary

pytestmark = pytest.mark.mlflow


def store(result_dir: Path) -> str:
    return f"sqlite:///{result_dir.resolve() / 'mlflow.db'}"


def run_args(result_dir: Path, exp_id: str, *extra: str) -> list[str]:
    return [*SMALL, *FAST_RETRY, "--result-dir", str(result_dir), "--experiment-id", exp_id, *extra]


def test_a_fork_is_a_new_run_and_a_rollback_marks_what_it_moved_aside(tmp_path: Path) -> None:
    uri = store(tmp_path)
    with FakeLLMServer() as fake:
        env = cli_env(fake)
        source = run_cli(run_args(tmp_path, "src", "--track", "mlflow"), env, timeout=300)
        assert source.returncode == 0, source.stderr
        (first,) = runs_of(uri, "src")
        forked = run_cli(
            ["fork", "src", "--at-generation", "1", *run_args(tmp_path, "f1")], env, timeout=300
        )
        assert forked.returncode == 0, forked.stderr
        rolled = run_cli(
            ["rollback", "src", "--to-generation", "1", "--result-dir", str(tmp_path)], env
        )
        assert rolled.returncode == 0, rolled.stderr
        resumed = run_cli(run_args(tmp_path, "src"), env, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
    # The default store keeps its artifacts beside it, and tracking.json names it as such.
    assert json.loads((tmp_path / "src" / "tracking.json").read_text())["uri"] == ""
    assert (tmp_path / "mlartifacts" / "default").is_dir()
    (fork,) = runs_of(uri, "f1")
    assert fork.info.run_id != first.info.run_id
    assert fork.data.tags["evoprompt.parent"] == "src"
    assert fork.data.tags["evoprompt.forked_at"] == "1"
    assert fork.data.tags["evoprompt.parent_run_id"] == first.info.run_id
    assert_steps_equal_summary(uri, fork.info.run_id, summary(tmp_path, "f1"))
    runs = {r.info.run_id: r for r in runs_of(uri, "src")}
    old = runs.pop(first.info.run_id)
    (new,) = runs.values()
    assert old.data.tags["evoprompt.status"] == "rolled_back" and old.info.status == "KILLED"
    assert "generations 2-3" in old.data.tags["evoprompt.rollback.1"]
    assert history(uri, old.info.run_id, "moved_aside") == [(2, 1.0), (3, 1.0)]
    assert new.data.tags["evoprompt.previous_run_id"] == old.info.run_id
    assert new.info.status == "FINISHED"
    assert_steps_equal_summary(uri, new.info.run_id, summary(tmp_path, "src"))


def test_track_backfills_an_untracked_experiment_once(tmp_path: Path) -> None:
    with FakeLLMServer() as fake:
        plain = run_cli(run_args(tmp_path, "old"), cli_env(fake), timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert not (tmp_path / "mlflow.db").exists()
    backfill = ["track", "old", "--result-dir", str(tmp_path)]
    first = run_cli(backfill, cli_env(None), timeout=300)
    assert first.returncode == 0, first.stderr
    again = run_cli(backfill, cli_env(None), timeout=300)
    assert again.returncode == 0 and "(0 metric values added)" in again.stdout
    (run,) = runs_of(store(tmp_path), "old")
    assert run.info.status == "FINISHED"
    assert_steps_equal_summary(store(tmp_path), run.info.run_id, summary(tmp_path, "old"))
    record = json.loads((tmp_path / "old" / "tracking.json").read_text())
    assert record["run_id"] == run.info.run_id and record["uri"] == ""


def test_track_refuses_unknown_ids_and_bad_uris_in_one_line(tmp_path: Path) -> None:
    missing = run_cli(["track", "nope", "--result-dir", str(tmp_path)], cli_env(None))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no experiment 'nope'" in missing.stderr
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "config.json").write_text("{}")
    bad = run_cli(["track", "e", "--result-dir", str(tmp_path), "--track-uri", "nowhere"], {})
    assert bad.returncode == 2 and "not a tracking URI" in bad.stderr
    assert "Traceback" not in bad.stderr + missing.stderr
