"""A custom metric (``python:MODULE:FUNCTION``) that never returns, or that exits: the run
still stops on a signal or with the metric named, its progress saved, and the printed command
goes on once the metric is fixed."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import (
    FAST_RETRY,
    cli_env,
    duplicate_answers,
    make_server,
    resumes_with,
    run_cli,
    run_printed,
    start_cli,
    wait_for,
)

ARGS = ["--dataset", "arith", "--dev-size", "8", "--population-size", "2", "--max-generations"]
ARGS += ["1", "--batch-size", "4", "--test-size", "0", *FAST_RETRY]
CONCURRENCY = 8  # the default: requests in flight at most
HUNG = """
import os, time
from pathlib import Path

def score(output, reference, example):
    Path(os.environ["HUNG_MARKER"]).touch()
    while True:  # swallows what a signal handler raises, as a bare except would
        try:
            time.sleep(1)
        except BaseException:
            pass
"""
EXITS = """
def score(output, reference, example):
    raise SystemExit(0)
"""
FIXED = """
def score(output, reference, example):
    return float(output.strip() == reference.strip())
"""


def metric_env(tmp_path: Path, server_env: dict[str, str], code: str) -> dict[str, str]:
    (tmp_path / "user_metric_e2e.py").write_text(code)
    marker = tmp_path / "hung"
    return {**server_env, "PYTHONPATH": str(tmp_path), "HUNG_MARKER": str(marker)}


def argv(tmp_path: Path) -> list[str]:
    return [*ARGS, "--metric", "python:user_metric_e2e:score", "--result-dir", str(tmp_path / "r")]


@pytest.mark.parametrize(
    ("signals", "code"),
    [((signal.SIGINT, signal.SIGINT), 130), ((signal.SIGTERM,), 143)],
    ids=["ctrl-c-twice", "sigterm"],
)
def test_a_hung_metric_is_ended_by_signals_and_the_printed_command_resumes(
    tmp_path: Path, signals: tuple[signal.Signals, ...], code: int
) -> None:
    server = make_server()
    try:
        env = metric_env(tmp_path, cli_env(server), HUNG)
        env["EVOPROMPT_STOP_GRACE_S"] = "0.5"  # a lone SIGTERM waits for it, then gives up
        proc = start_cli([*argv(tmp_path), "--experiment-id", "hung"], env)
        try:
            wait_for((tmp_path / "hung").exists, timeout=120)  # the metric now never returns
            for signum in signals:
                proc.send_signal(signum)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == code, err
        assert "Traceback" not in err
        assert "Progress up to the last journaled answer is safe" in err
        assert resumes_with("hung", err)
        answered = server.stats()["answered"]
        assert answered > 0
        (tmp_path / "user_metric_e2e.py").write_text(FIXED)  # the user fixes the metric
        resumed = run_printed(err, env)
        assert resumed.returncode == 0, resumed.stderr
        assert duplicate_answers(server) == 0  # every answer was journaled as it landed
    finally:
        server.stop()


def test_a_stop_the_metric_hangs_during_still_ends(tmp_path: Path) -> None:
    """The run takes SIGTERM at once (it waits on a slow endpoint); the answers on the wire
    land during the grace and the metric never returns: the stop cannot complete, and the
    process ends on its own after the grace (only kill -9 stopped it)."""
    server = make_server(latency=1.0)
    try:
        env = metric_env(tmp_path, cli_env(server), HUNG)
        env["EVOPROMPT_STOP_GRACE_S"] = "3"
        proc = start_cli([*argv(tmp_path), "--experiment-id", "late"], env)
        try:
            # two seed prompts, population 2: the first calls are scoring calls, a second long
            wait_for(lambda: server.stats().get("seen", 0) > 0, timeout=120)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 143, err
        assert (tmp_path / "hung").exists(), "the metric was reached"
        assert "Interrupted by SIGTERM, but the stop did not complete" in err
        assert resumes_with("late", err)
        (tmp_path / "user_metric_e2e.py").write_text(FIXED)
        server.set_faults(latency=0.0)
        resumed = run_printed(err, env)
        assert resumed.returncode == 0, resumed.stderr
        assert duplicate_answers(server) == 0  # the answers that landed were journaled
    finally:
        server.stop()


def test_a_metric_raising_system_exit_is_its_failure_not_the_end(tmp_path: Path) -> None:
    server = make_server()
    try:
        env = metric_env(tmp_path, cli_env(server), EXITS)
        stopped = run_cli([*argv(tmp_path), "--experiment-id", "exits"], env)
        assert stopped.returncode == 2, stopped.stderr
        assert "error: metric python:user_metric_e2e:score raised SystemExit: 0" in stopped.stderr
        assert "Progress saved" in stopped.stderr and "Traceback" not in stopped.stderr
        assert resumes_with("exits", stopped.stderr)
        (tmp_path / "user_metric_e2e.py").write_text(FIXED)
        resumed = run_printed(stopped.stderr, env)
        assert resumed.returncode == 0, resumed.stderr
        assert duplicate_answers(server) <= CONCURRENCY  # only calls on the wire at the failure
        (tmp_path / "user_metric_e2e.py").write_text("import sys\nsys.exit(0)\n")
        at_import = run_cli([*argv(tmp_path), "--experiment-id", "imports"], env)
    finally:
        server.stop()
    assert at_import.returncode == 2, at_import.stderr
    assert "cannot import user_metric_e2e (SystemExit: 0)" in at_import.stderr


def test_a_hung_metric_in_a_local_sweep_is_ended_by_a_second_ctrl_c(tmp_path: Path) -> None:
    sweep = tmp_path / "grid.toml"
    sweep.write_text(
        'dataset = "arith"\ndev_size = 8\npopulation_size = 2\nmax_generations = 1\n'
        'test_size = 0\nmetric = "python:user_metric_e2e:score"\n[grid]\nseed = [1, 2]\n'
    )
    server = make_server()
    try:
        env = metric_env(tmp_path, cli_env(server), HUNG)
        root = tmp_path / "r"
        proc = start_cli(["sweep", str(sweep), "--result-dir", str(root), "--sweep-id", "s"], env)
        try:
            wait_for((tmp_path / "hung").exists, timeout=120)
            proc.send_signal(signal.SIGINT)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 130, err
        assert "Progress up to the last journaled answer is safe. Resume with: " in err
        (tmp_path / "user_metric_e2e.py").write_text(FIXED)
        resumed = run_printed(err, env)
    finally:
        server.stop()
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.parent.name for p in (root / "s").glob("*/summary.json")) == [
        "seed-1",
        "seed-2",
    ]


@pytest.mark.ray
def test_a_hung_metric_in_a_ray_cell_is_ended_by_ctrl_c(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    sweep = tmp_path / "grid.toml"
    sweep.write_text(
        'dataset = "arith"\ndev_size = 8\npopulation_size = 2\nmax_generations = 1\n'
        'test_size = 0\nmetric = "python:user_metric_e2e:score"\n[grid]\nseed = [1]\n'
    )
    server = make_server()
    try:
        env = metric_env(tmp_path, cli_env(server), HUNG)
        root = tmp_path / "r"
        argv = ["sweep", str(sweep), "--result-dir", str(root), "--sweep-id", "s"]
        proc = start_cli([*argv, "--engine", "ray"], env)
        try:
            wait_for((tmp_path / "hung").exists, timeout=180)  # in the Ray worker
            proc.send_signal(signal.SIGINT)  # the cell never takes it: its worker is killed
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 130, err
        assert "seed-1: interrupted: its worker was killed" in err
        (tmp_path / "user_metric_e2e.py").write_text(FIXED)
        resumed = run_printed(err, env, timeout=300)
    finally:
        server.stop()
    assert resumed.returncode == 0, resumed.stderr
    assert (root / "s" / "seed-1" / "summary.json").is_file()
