"""The Ray engine on a local Ray (2 CPUs): the same cells as the local engine, also when a
worker process is killed mid-cell (Ray retries the task; the cell resumes from its checkpoint).
Skipped without Ray (``pip install 'evoprompt[ray]'``)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from evoprompt.report.experiment import lock_holder
from tests.conftest import (
    cli_env,
    duplicate_answers,
    make_server,
    outcome,
    run_cli,
    start_cli,
    summary,
    wait_for,
)

pytest.importorskip("ray")
pytestmark = pytest.mark.ray

SWEEP = """population_size = 4
dev_size = 16
max_generations = 2
batch_size = 4
retry_delay = 0.01
[grid]
algorithm = ["ga", "de"]
seed = [1]
"""
# Two cells, run side by side by --max-parallel 2: one GA and one DE, each checked alike (more
# seeds only made the test longer).
CELLS = [f"algorithm-{a}_seed-1" for a in ("ga", "de")]


def test_ray_cells_equal_local_ones_even_after_a_worker_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(SWEEP)
    root = tmp_path / "result"
    common = ["sweep", str(path), "--result-dir", str(root), "--concurrency", "4"]
    server = make_server(latency=0.03)
    try:
        env = cli_env(server)
        local = run_cli([*common, "--sweep-id", "local"], env)
        assert local.returncode == 0, local.stderr
        proc = start_cli(
            [*common, "--sweep-id", "ray", "--engine", "ray", "--max-parallel", "2"], env
        )
        first = root / "ray" / CELLS[0]

        def worker() -> str | None:
            saved = any((first / "checkpoints" / "batches").glob("gen0_*"))
            return lock_holder(first) if saved else None

        wait_for(lambda: worker() is not None or proc.poll() is not None, timeout=180)
        pid = worker()
        assert pid is not None and int(pid) != proc.pid, "killed a Ray worker, not the driver"
        os.kill(int(pid), signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        server.stop()
    assert proc.returncode == 0, err
    recovery = (first / "recovery.log").read_text().splitlines()
    assert len(recovery) >= 1, "the retried task resumed the cell from its checkpoint"
    for cell in CELLS:
        assert outcome(summary(root / "ray", cell)) == outcome(summary(root / "local", cell))


def test_a_killed_driver_stops_its_workers_and_the_resume_asks_only_what_was_on_the_wire(
    tmp_path: Path,
) -> None:
    """After a kill -9 of the driver, Ray ends its workers only seconds later: until then
    they went on asking (hundreds of requests), for answers no one could journal. Each cell
    watches its driver and stops asking at once."""
    path = tmp_path / "one.toml"
    path.write_text("test_size = 0\n" + SWEEP.replace('algorithm = ["ga", "de"]\n', ""))
    concurrency = 4
    common = ["sweep", str(path), "--result-dir", str(tmp_path / "result"), "--sweep-id", "k"]
    common += ["--engine", "ray", "--concurrency", str(concurrency)]
    # Slow answers: in the seconds Ray takes to end an orphaned worker, it would ask ~40 more.
    server = make_server(latency=0.25)
    try:
        env = cli_env(server)
        proc = start_cli(common, env)
        wait_for(lambda: server.stats().get("answered", 0) >= 12 or proc.poll() is not None, 180)
        assert proc.poll() is None, "the sweep ended before the kill"
        proc.kill()
        seen, started = server.stats()["seen"], time.monotonic()
        proc.wait()
        last = -1
        while last != server.stats()["seen"]:  # until no request came for 3 s (bounded)
            last = server.stats()["seen"]
            time.sleep(3)
            assert time.monotonic() - started < 60, "the workers went on asking"
        asked_after = server.stats()["seen"] - seen
        server.set_faults(latency=0.0)
        resumed = run_cli(common, env, timeout=300)
        paid_twice = duplicate_answers(server)
    finally:
        server.stop()
    # what a cell had on the wire at the kill, and what it asked before it saw the driver gone
    assert asked_after <= 2 * concurrency
    assert resumed.returncode == 0, resumed.stderr
    assert paid_twice <= concurrency  # the resume re-asks at most what was on the wire
