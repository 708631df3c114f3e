"""Sweeps through the real CLI: 2 algorithms x 3 seeds against the test endpoint. Each cell
equals a standalone run, aggregate.csv equals statistics recomputed from the cells, the shared
limiter bounds requests in flight across cells, and kill -9 / Ctrl+C of the driver resume to
the same cells without re-buying answered calls."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import (
    ROOT,
    cli_env,
    make_server,
    outcome,
    run_cli,
    start_cli,
    summary,
    wait_for,
)
from tests.e2e.conftest import inspect

SETTINGS = "population_size = 4\ndev_size = 16\nmax_generations = 2\nbatch_size = 4\n"
SETTINGS += "retry_delay = 0.01\n"
# A small held-out phase: each cell still ends with its verdict, in seconds not minutes.
SETTINGS += "test_size = 16\n"
# The kill test compares request bodies exactly; which rows a pruned child had answered before
# it was cut off depends on answer timing, so pruning is off here (its result is the same).
SETTINGS += "prune = false\n"
GRID = '[grid]\nalgorithm = ["ga", "de"]\nseed = [1, 2, 3]\n'
CELLS = [f"algorithm-{a}_seed-{s}" for a in ("ga", "de") for s in (1, 2, 3)]
CONCURRENCY = 3


def sweep_file(folder: Path) -> Path:
    path = folder / "grid.toml"
    path.write_text(SETTINGS + GRID)
    return path


def sweep_args(path: Path, root: Path, *extra: str) -> list[str]:
    return [
        "sweep",
        str(path),
        "--result-dir",
        str(root),
        "--concurrency",
        str(CONCURRENCY),
        *extra,
    ]


def cells(root: Path, sweep_id: str) -> dict[str, Any]:
    return {cell: outcome(summary(root / sweep_id, cell)) for cell in CELLS}


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted sweep, and what the endpoint saw."""
    folder = tmp_path_factory.mktemp("sweep")
    path = sweep_file(folder)
    server = make_server(latency=0.02)  # slow enough for requests to overlap
    try:
        ran = run_cli(sweep_args(path, folder / "result", "--sweep-id", "ref"), cli_env(server))
        bodies = Counter(server.answered_bodies)
        peak = server.peak_inflight
    finally:
        server.stop()
    assert ran.returncode == 0, ran.stderr
    return {
        "root": folder / "result",
        "path": path,
        "bodies": bodies,
        "peak": peak,
        "cells": cells(folder / "result", "ref"),
        "stderr": ran.stderr,
        "stdout": ran.stdout,
    }


def test_each_cell_equals_a_standalone_run_and_the_limiter_is_shared(
    done: dict[str, Any], tmp_path: Path
) -> None:
    assert 1 < done["peak"] <= CONCURRENCY  # counted at the server, across all six cells
    with FakeLLMServer() as server:
        for cell in CELLS:
            algorithm, seed = cell.split("_")
            ran = run_cli(
                [
                    "--population-size",
                    "4",
                    "--dev-size",
                    "16",
                    "--max-generations",
                    "2",
                    "--batch-size",
                    "4",
                    "--algorithm",
                    algorithm[10:],
                    "--seed",
                    seed[5:],
                    "--result-dir",
                    str(tmp_path),
                    "--experiment-id",
                    cell,
                ],
                cli_env(server),
            )
            assert ran.returncode == 0, ran.stderr
            assert outcome(summary(tmp_path, cell)) == done["cells"][cell], cell


def test_aggregate_equals_statistics_recomputed_from_the_cells(done: dict[str, Any]) -> None:
    frame = pd.read_csv(done["root"] / "ref" / "aggregate.csv")
    assert list(frame["algorithm"]) == ["ga", "de"]
    for algorithm in ("ga", "de"):
        docs = [summary(done["root"] / "ref", f"algorithm-{algorithm}_seed-{s}") for s in (1, 2, 3)]
        row = frame[frame["algorithm"] == algorithm].iloc[0]
        dev = [d["best_fitness"] for d in docs]
        assert row["n"] == 3
        assert row["dev_mean"] == pytest.approx(np.mean(dev))
        assert row["dev_std"] == pytest.approx(np.std(dev, ddof=1))
        assert row["calls"] == sum(d["api_stats"]["calls"] for d in docs)
        tokens = sum(
            d["api_stats"]["prompt_tokens"] + d["api_stats"]["completion_tokens"] for d in docs
        )
        assert row["tokens"] == tokens
        # every session's time, which covers its generations' (and the test phase's)
        assert row["wall_s"] == pytest.approx(sum(d["wall_s"] for d in docs))
        assert row["wall_s"] >= sum(g["duration_s"] for d in docs for g in d["generations"])
        assert pd.isna(row["unreadable"])
        if "test" in docs[0]:
            test = [
                next(r["test_fitness"] for r in d["test"]["results"] if r["role"] == "best")
                for d in docs
            ]
            assert row["test_mean"] == pytest.approx(np.mean(test))


def test_list_shows_the_sweep_with_progress_and_cells_and_cells_are_experiments(
    done: dict[str, Any],
) -> None:
    listed = inspect("list", "--result-dir", str(done["root"]))
    lines = listed.out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("ref "))
    assert "6/6 cells" in lines[head] and "finished" in lines[head]
    assert [line.split()[0] for line in lines[head + 1 : head + 7]] == CELLS
    assert all(line.startswith("  ") for line in lines[head + 1 : head + 7])
    status = inspect("status", CELLS[0], "--result-dir", str(done["root"] / "ref"))
    assert status.code == 0 and "finished" in status.out


def test_sweep_report_writes_the_table_and_plot(done: dict[str, Any]) -> None:
    ran = run_cli(["sweep-report", "ref", "--result-dir", str(done["root"])], cli_env(None))
    assert ran.returncode == 0, ran.stderr
    html = (done["root"] / "ref" / "sweep_report.html").read_text()
    assert 'id="score-plot"' in html and "algorithm-de_seed-3" in html and "dev_mean" in html
    assert '<div class="wide"><table>' in html and "test 95% CI" in html  # scrolls, never overflows
    cells = html[html.index("<h2>Cells</h2>") :]
    assert "<th>test best</th><th>gain vs seed</th><th>p</th>" in cells
    for cell in CELLS:  # each cell's held-out figures, from its own summary
        test = summary(done["root"] / "ref", cell)["test"]
        row = cells[cells.index(f"<td>{cell}</td>") :].split("</tr>")[0]
        assert f"<td>{test['results'][0]['test_fitness']:.4f}</td>" in row
        assert f"<td>{test['comparison']['delta']:+.4f}</td>" in row


def kill_after(server: FakeLLMServer, proc: Any, calls: int) -> bool:
    target = server.stats().get("answered", 0) + calls
    wait_for(
        lambda: proc.poll() is not None or server.stats().get("answered", 0) >= target, timeout=120
    )
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_kill_9_of_the_driver_resumes_to_the_same_cells(
    done: dict[str, Any], tmp_path: Path
) -> None:
    chooser = random.Random(14)
    path, root = sweep_file(tmp_path), tmp_path / "result"
    args = sweep_args(path, root)  # no --sweep-id: rerunning the same command resumes
    server = make_server(latency=0.02)
    total = sum(done["bodies"].values())
    kills = 0
    try:
        env = cli_env(server)
        while kills < 4:
            if not kill_after(server, start_cli(args, env), chooser.randint(5, total // 6)):
                break
            kills += 1
        final = run_cli(args, env)
        bodies = Counter(server.answered_bodies)
    finally:
        server.stop()
    assert final.returncode == 0, final.stderr
    assert kills >= 3
    assert "Resuming unfinished sweep" in final.stderr
    (sweep_id,) = [p.name for p in root.iterdir()]
    assert cells(root, sweep_id) == done["cells"]
    extra = bodies - done["bodies"]
    # only calls on the wire at a kill (at most --concurrency across all cells) are re-sent
    assert sum(extra.values()) <= kills * CONCURRENCY
    assert done["bodies"] - bodies == Counter()


def test_ctrl_c_stops_every_cell_and_the_printed_command_resumes(
    done: dict[str, Any], tmp_path: Path
) -> None:
    path, root = sweep_file(tmp_path), tmp_path / "result"
    server = make_server(latency=0.05)
    try:
        env = cli_env(server)
        proc = start_cli(sweep_args(path, root, "--sweep-id", "s", "--max-parallel", "4"), env)
        wait_for(lambda: server.stats().get("answered", 0) >= 40, timeout=120)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        command = next(line for line in err.splitlines() if line.startswith("Resume with: "))
        assert f"sweep {path} --sweep-id s --result-dir {root}" in command
        assert list((root / "s").glob("*/summary.json")), "the running cells saved their stop"
        final = run_cli(
            [
                *command.split(" main.py ", 1)[1].split(),
                "--concurrency",
                str(CONCURRENCY),
            ],
            env,
        )
    finally:
        server.stop()
    assert final.returncode == 0, final.stderr
    assert cells(root, "s") == done["cells"]


def test_a_changed_sweep_file_is_refused_and_a_bad_one_runs_nothing(
    done: dict[str, Any], tmp_path: Path
) -> None:
    root = done["root"]
    changed = tmp_path / "grid.toml"
    changed.write_text(SETTINGS.replace("dev_size = 16", "dev_size = 20") + GRID)
    ran = run_cli(sweep_args(changed, root, "--sweep-id", "ref"), cli_env(None))
    assert ran.returncode == 2
    assert ran.stderr.strip().count("\n") == 0
    assert "dev_size (sweep: 16, now: 20)" in ran.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(SETTINGS + "[grid]\nseed = []\n")
    ran = run_cli(sweep_args(bad, tmp_path / "nothing"), cli_env(None))
    assert ran.returncode == 2 and "grid key 'seed' has an empty list" in ran.stderr
    assert not (tmp_path / "nothing").exists()


def test_status_of_a_sweep_shows_its_cells_progress_and_resume(
    done: dict[str, Any], tmp_path: Path
) -> None:
    status = inspect("status", "ref", "--result-dir", str(done["root"]))
    assert status.code == 0, status.err
    lines = status.out.splitlines()
    assert lines[0] == "Sweep ref: finished, 6/6 cells finished"
    for cell in CELLS:
        row = next(line for line in lines if line.startswith(cell + " "))
        assert " finished " in row
        doc = summary(done["root"] / "ref", cell)
        assert f"{doc['test']['results'][0]['test_fitness']:.4f}" in row
    assert lines[-1] == "Resume: nothing to resume, every cell is finished"
    # a stopped sweep: its printed resume command, the same one the driver printed at start
    stopped = tmp_path / "result"
    shutil.copytree(done["root"] / "ref", stopped / "ref")
    shutil.rmtree(stopped / "ref" / CELLS[-1])
    status = inspect("status", "ref", "--result-dir", str(stopped))
    assert status.out.splitlines()[0] == "Sweep ref: stopped, 5/6 cells finished"
    assert f"{CELLS[-1]} " in status.out and " pending " in status.out
    resume = status.out.splitlines()[-1]
    assert resume.startswith("Resume with: ") and resume.split(": ", 1)[1] in done["stderr"]
    assert "If it stops, resume with: " in done["stderr"]


def test_a_finished_sweep_names_its_next_commands_and_they_work(done: dict[str, Any]) -> None:
    block = done["stdout"][done["stdout"].index("\nNext:\n") :].splitlines()[2:]
    commands = [line.strip() for line in block if line.startswith("    ")]
    assert [c.split()[2] for c in commands] == ["sweep-report", "status"]
    for command in commands:
        pasted = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=cli_env(None), capture_output=True, text=True
        )
        assert pasted.returncode == 0, (command, pasted.stderr)
    assert (done["root"] / "ref" / "sweep_report.html").is_file()
