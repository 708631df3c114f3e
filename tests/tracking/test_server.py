"""Tracking against a real ``mlflow server`` (SQLite backend, loopback port), read back with the
MLflow client: what a run logs equals its summary.json, kills and a dead server leave one
complete run, and a sweep is a parent run with a child per cell."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import (
    FAST_RETRY,
    SMALL,
    cli_env,
    make_server,
    run_cli,
    start_cli,
    summary,
    victim_args,
    wait_for,
)
from tests.tracking.conftest import MlflowServer, client, history, runs_of

pytestmark = pytest.mark.mlflow

STEP_KEYS = ("best_fitness", "mean_fitness", "diversity", "calls", "tokens", "cost_usd")
STEP_KEYS += ("pruned_share", "evaluated")


def track_args(server: MlflowServer, *extra: str) -> list[str]:
    return ["--track", "mlflow", "--track-uri", server.uri, *extra]


def assert_steps_equal_summary(uri: str, run_id: str, doc: dict[str, Any]) -> None:
    """Each generation of summary.json is one step of every figure, logged once."""
    for key in STEP_KEYS:
        expected = [(g["generation"], float(g[key])) for g in doc["generations"]]
        assert history(uri, run_id, key) == expected, key


def run_id_of(folder: Path) -> str | None:
    try:
        found = json.loads((folder / "tracking.json").read_text())["run_id"]
    except (OSError, ValueError, KeyError):
        return None
    return found if isinstance(found, str) else None


def test_a_tracked_run_logs_what_its_summary_says(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    # Credentials in the tracking URI are used, never stored or logged.
    uri = mlflow_server.uri.replace("http://", "http://alice:s3cret@")
    args = [*SMALL, *FAST_RETRY, "--result-dir", str(tmp_path), "--experiment-id", "t1"]
    args += ["--name", "equal", "--test-size", "40", "--track", "mlflow", "--track-uri", uri]
    with FakeLLMServer() as fake:
        done = run_cli(args, cli_env(fake, key="sk-secret-key"), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "tracking:" not in done.stderr
    (run,) = runs_of(mlflow_server.uri, "t1")
    doc = summary(tmp_path, "t1")
    config = json.loads((tmp_path / "t1" / "config.json").read_text())
    assert run.data.params == {  # the settings: config.json's own format field is not one
        k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items() if k != "format"
    }
    assert run.data.params["track_uri"] == mlflow_server.uri
    everything = json.dumps([run.data.params, run.data.tags])
    everything += (tmp_path / "t1" / "tracking.json").read_text()
    assert "s3cret" not in everything and "sk-secret-key" not in everything
    assert_steps_equal_summary(mlflow_server.uri, run.info.run_id, doc)
    test = doc["test"]
    best, comparison = test["results"][0], test["comparison"]
    for key, value in (
        ("test.best.score", best["test_fitness"]),
        ("test.best.ci_low", best["ci_low"]),
        ("test.best.ci_high", best["ci_high"]),
        ("test.delta", comparison["delta"]),
        ("test.delta_ci_low", comparison["ci_low"]),
        ("test.p_value", comparison["p_value"]),
        ("test.rows", test["size"]),
    ):
        assert history(mlflow_server.uri, run.info.run_id, key) == [(1, value)], key
    assert run.data.tags["evoprompt.experiment_id"] == "t1"
    assert run.data.tags["evoprompt.status"] == "finished"
    assert run.info.status == "FINISHED"
    mlflow = client(mlflow_server.uri)
    names = {a.path for a in mlflow.list_artifacts(run.info.run_id)}
    assert {"summary.json", "report.html", "best_prompt.txt", "lineage.txt"} <= names
    best_file = mlflow.download_artifacts(run.info.run_id, "best_prompt.txt", str(tmp_path))
    assert Path(best_file).read_text() == doc["best_prompt"] + "\n"
    logged = mlflow.download_artifacts(run.info.run_id, "summary.json", str(tmp_path / "dl"))
    assert json.loads(Path(logged).read_text()) == doc


def kill_after(fake: FakeLLMServer, proc: subprocess.Popen[str], answers: int) -> bool:
    """SIGKILL ``proc`` once the endpoint has answered ``answers`` more calls; False if it
    finished first. Measured in answers, not seconds: on an idle machine a run outpaces
    kill moments drawn in seconds (CI saw one kill where the test needs two)."""
    target = fake.counts["answered"] + answers
    wait_for(lambda: proc.poll() is not None or fake.counts["answered"] >= target, timeout=120)
    if proc.poll() is not None:
        return False
    proc.kill()
    proc.wait()
    return True


def test_kill9_at_random_moments_then_resume_is_one_run_with_each_step_once(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    chooser = random.Random(35)
    fake = make_server(latency=0.03)
    args = victim_args(tmp_path, "k9", *track_args(mlflow_server, "--name", "kills"))
    kills = 0
    try:
        env = cli_env(fake)
        # The first kill lands right after the run is created, before anything is logged to
        # it; the others at random points of the scoring, around the tracker's start and syncs.
        proc = start_cli(args, env)
        wait_for(lambda: proc.poll() is not None or run_id_of(tmp_path / "k9"), timeout=240)
        proc.kill()
        proc.wait()
        for _ in range(5):
            if not kill_after(fake, start_cli(args, env), chooser.randint(20, 150)):
                break
            kills += 1
        final = run_cli(args, env, timeout=300)
    finally:
        fake.stop()
    assert final.returncode == 0, final.stderr
    assert kills >= 2
    (run,) = runs_of(mlflow_server.uri, "k9")
    doc = summary(tmp_path, "k9")
    assert doc["status"] == "finished" and len(doc["generations"]) == 4
    assert_steps_equal_summary(mlflow_server.uri, run.info.run_id, doc)
    assert run_id_of(tmp_path / "k9") == run.info.run_id


def test_a_server_killed_mid_run_costs_nothing_and_track_completes_the_run(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    fake = make_server(latency=0.05)
    args = victim_args(tmp_path, "down", *track_args(mlflow_server, "--name", "outage"))
    folder = tmp_path / "down"
    try:
        env = cli_env(fake)
        proc = start_cli(args, env)

        def logged() -> bool:
            run_id = run_id_of(folder)
            return run_id is not None and bool(history(mlflow_server.uri, run_id, "best_fitness"))

        wait_for(lambda: proc.poll() is not None or logged(), timeout=240, step=0.2)
        mlflow_server.kill()
        _, stderr = proc.communicate(timeout=300)
    finally:
        fake.stop()
        if mlflow_server.proc is not None and mlflow_server.proc.poll() is not None:
            mlflow_server.start()
    assert proc.returncode == 0, stderr
    doc = summary(tmp_path, "down")
    assert doc["status"] == "finished" and len(doc["generations"]) == 4
    notices = [line for line in stderr.splitlines() if line.startswith("tracking:")]
    assert 1 <= len(notices) <= 2, stderr
    assert "track down" in notices[-1]
    backfill = ["track", "down", "--result-dir", str(tmp_path), "--track-uri", mlflow_server.uri]
    done = run_cli(backfill, cli_env(None), timeout=300)
    assert done.returncode == 0, done.stderr
    (run,) = runs_of(mlflow_server.uri, "down")
    assert run.info.status == "FINISHED"
    assert_steps_equal_summary(mlflow_server.uri, run.info.run_id, doc)
    names = {a.path for a in client(mlflow_server.uri).list_artifacts(run.info.run_id)}
    assert "summary.json" in names
    again = run_cli(backfill, cli_env(None), timeout=300)
    assert again.returncode == 0 and "(0 metric values added)" in again.stdout


def test_a_sweep_is_one_parent_run_with_a_child_run_per_cell(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    sweep_file = tmp_path / "grid.toml"
    sweep_file.write_text(
        'name = "swp"\npopulation_size = 4\nmax_generations = 1\ndev_size = 16\n'
        f'test_size = 0\ntrack = "mlflow"\ntrack_uri = "{mlflow_server.uri}"\n'
        "[grid]\nseed = [1, 2]\n"
    )
    with FakeLLMServer() as fake:
        done = run_cli(
            ["sweep", str(sweep_file), "--sweep-id", "sw", "--result-dir", str(tmp_path)],
            cli_env(fake),
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    mlflow = client(mlflow_server.uri)
    experiment = mlflow.get_experiment_by_name("swp").experiment_id
    runs = mlflow.search_runs([experiment])
    (parent,) = [r for r in runs if r.data.tags.get("evoprompt.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["evoprompt.cell"] for r in children) == ["seed-1", "seed-2"]
    assert len(runs) == 3
    assert {r.data.tags["evoprompt.sweep_id"] for r in [parent, *children]} == {"sw"}
    assert parent.info.status == "FINISHED"
    for child in children:
        doc = summary(tmp_path / "sw", child.data.tags["evoprompt.cell"])
        assert_steps_equal_summary(mlflow_server.uri, child.info.run_id, doc)
    aggregate = (tmp_path / "sw" / "aggregate.csv").read_text().splitlines()
    header, row = aggregate[0].split(","), aggregate[1].split(",")
    dev_mean = float(row[header.index("dev_mean")])
    assert history(mlflow_server.uri, parent.info.run_id, "all/dev_mean") == [(2, dev_mean)]
