"""A sweep's own records under stress, through the real CLI: a garbled sweep.json stops a plain
rerun (which would otherwise start a new sweep paying every cell again), a huge grid is refused
before it is expanded, many cells do not hold back the first request, and a cell's wall time
adds up over a kill -9 and its resume."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
from pathlib import Path

import pandas as pd

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, main_cmd, make_server, run_cli, start_cli, wait_for
from tests.e2e.conftest import tree_hashes

SETTINGS = "population_size = 4\ndev_size = 16\nmax_generations = 2\nbatch_size = 4\n"
SETTINGS += "retry_delay = 0.01\nprune = false\ntest_size = 16\n"


def sweep_file(folder: Path, grid: str) -> Path:
    path = folder / "grid.toml"
    path.write_text(SETTINGS + "[grid]\n" + grid)
    return path


def test_a_garbled_sweep_json_stops_a_plain_rerun_with_one_line(tmp_path: Path) -> None:
    path, root = sweep_file(tmp_path, "seed = [1, 2, 3]\n"), tmp_path / "result"
    args = ["sweep", str(path), "--result-dir", str(root)]
    with FakeLLMServer() as fake:
        stopped = run_cli([*args, "--max-calls", "40"], cli_env(fake))  # unfinished: budget
        assert stopped.returncode == 75, stopped.stderr
        (sweep_dir,) = root.iterdir()
        before, paid = tree_hashes(root), fake.counts["requests"]
        plan = run_cli([*args, "--dry-run"], cli_env(fake))  # the unfinished sweep's rest
        assert plan.returncode == 0 and "resumes after generation" in plan.stdout, plan.stderr
        assert tree_hashes(root) == before and fake.counts["requests"] == paid
        record = sweep_dir / "sweep.json"
        record.write_bytes(record.read_bytes()[:200])  # truncated
        before, paid = tree_hashes(root), fake.counts["requests"]
        again = run_cli(args, cli_env(fake))
        assert fake.counts["requests"] == paid
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1, again.stderr
    assert str(record) in again.stderr and f"--sweep-id {sweep_dir.name}" in again.stderr
    assert tree_hashes(root) == before and list(root.iterdir()) == [sweep_dir]


def test_a_huge_grid_is_refused_in_one_line_before_it_is_expanded(tmp_path: Path) -> None:
    values = list(range(1, 1001))
    grid = f"seed = {values}\nmax_tokens = {values}\ncleanup_every = {values}\n"
    path, root = sweep_file(tmp_path, grid), tmp_path / "result"

    def small_memory() -> None:  # expanding the grid would need tens of GB: fail, not swap
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    done = subprocess.run(
        main_cmd("sweep", str(path), "--result-dir", str(root)),
        env=cli_env(None),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_memory,
    )
    assert done.returncode == 2, done.stderr[-500:]
    assert done.stderr.count("\n") == 1
    assert "1000 x 1000 x 1000 = 1000000000 cells" in done.stderr
    assert not root.exists()


def test_the_first_request_goes_out_before_every_cell_is_opened(tmp_path: Path) -> None:
    cells = 300
    path = sweep_file(tmp_path, f"seed = {list(range(1, cells + 1))}\n")
    root = tmp_path / "result"
    server = make_server(latency=0.05)
    try:
        proc = start_cli(["sweep", str(path), "--result-dir", str(root)], cli_env(server))
        try:
            wait_for(lambda: server.counts["requests"] > 0, timeout=300)
            opened = len(list(root.glob("*/*/config.json")))
        finally:
            proc.kill()
            proc.communicate()
    finally:
        server.stop()
    # Cells open one at a time with the calls of those open served in between: opening all
    # 300 (journal, config, fsyncs) first took seconds, minutes for 2,000 cells.
    assert opened < cells // 2, opened


def test_wall_time_adds_up_over_a_kill_and_resume(tmp_path: Path) -> None:
    path, root = sweep_file(tmp_path, "seed = [1]\n"), tmp_path / "result"
    args = ["sweep", str(path), "--result-dir", str(root), "--sweep-id", "w"]
    cell = root / "w" / "seed-1"
    batches = cell / "checkpoints" / "batches"
    server = make_server(latency=0.15)
    try:
        env = cli_env(server)
        proc = start_cli(args, env)
        # killed in generation 1 once three of its four batches are saved
        wait_for((batches / "gen1_batch2.json").exists, timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        latest = json.loads((cell / "checkpoints" / "latest.json").read_text())
        first_save = min(p.stat().st_mtime for p in batches.glob("gen0_*"))
        last_save = (cell / "checkpoints" / "latest.json").stat().st_mtime
        done = run_cli(args, env)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    killed_in = latest["generation"]
    assert killed_in == 1
    doc = json.loads((cell / "summary.json").read_text())
    resumed = sum(g["duration_s"] for g in doc["generations"] if g["generation"] >= killed_in)
    # the first session ran at least from its first save to its last; the second at least
    # its generations (the killed one counted from the resume only)
    wall = pd.read_csv(root / "w" / "aggregate.csv").iloc[0]["wall_s"]
    assert wall >= (last_save - first_save) + resumed
    assert wall == doc["wall_s"]
