"""The defining promise, tested by killing and interrupting real processes and resuming them
(files damaged between a kill and the resume: test_damaged_files.py)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import read_checked_json
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import (
    FAST_RETRY,
    SMALL,
    STOP_GRACE_S,
    cli_env,
    duplicate_answers,
    kill_after_generation,
    make_server,
    outcome,
    resumes_with,
    run_cli,
    start_cli,
    summary,
    victim_args,
    wait_for,
)


def kill_after_answers(server: FakeLLMServer, proc: subprocess.Popen[str], calls: int) -> bool:
    """SIGKILL ``proc`` once the endpoint has answered ``calls`` more requests; False if it
    finished first. Moments counted in calls, not seconds, land at the same points however
    loaded the machine is."""
    target = server.stats().get("answered", 0) + calls
    wait_for(lambda: proc.poll() is not None or server.stats().get("answered", 0) >= target)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_sigkill_at_random_moments_resumes_to_the_uninterrupted_result(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    chooser = random.Random(20261125)
    server = make_server(latency=0.03)
    # a random moment: after 1 to 1/12 of the run's calls, so a dozen kills end about midway
    most = reference["server"]["answered"] // 12
    kills = 0
    try:
        env = cli_env(server)
        while kills < 12:
            proc = start_cli(victim_args(tmp_path), env)
            if not kill_after_answers(server, proc, chooser.randint(1, most)):
                break  # finished before this kill
            kills += 1
        final = run_cli(victim_args(tmp_path), env)
        assert final.returncode == 0, final.stderr
        duplicates = duplicate_answers(server)
        answered = server.stats()["answered"]
    finally:
        server.stop()
    assert kills >= 10
    doc = summary(tmp_path, "victim")
    assert outcome(doc) == outcome(reference["summary"])
    # Honest books: every call the endpoint answered (billed) is counted, those whose answers
    # a kill lost included; at most the `concurrency` = 8 on the wire per kill are lost.
    stats = doc["api_stats"]
    assert answered <= stats["calls"] <= answered + kills * 8
    assert stats["lost_in_flight"] >= duplicates > 0
    # Only calls in flight at a kill (at most `concurrency` = 8 each) can be answered twice.
    assert duplicates <= kills * 8
    log = [json.loads(line) for line in (tmp_path / "victim" / "recovery.log").open()]
    # every run after the first save resumes (a kill before it leaves nothing to resume)
    assert len(log) >= kills // 2


def test_sigint_saves_within_the_grace_and_the_resume_matches(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    server = make_server(latency=0.01)
    try:
        proc = start_cli(victim_args(tmp_path), cli_env(server))
        batch = tmp_path / "victim" / "checkpoints" / "batches" / "gen1_batch0.json"
        wait_for(batch.exists, timeout=60)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        elapsed = time.monotonic() - sent
        assert proc.returncode == 130, stderr
        # Calls on the wire land in milliseconds; the grace is the longest it may wait for them.
        assert elapsed < 3 * STOP_GRACE_S
        assert "Traceback" not in stderr
        assert resumes_with("victim", stderr)
        latest = read_checked_json(tmp_path / "victim" / "checkpoints" / "latest.json")
        assert latest["metadata"]["stage"] == "interrupted"
        stopped = summary(tmp_path, "victim")
        assert stopped["status"] == "interrupted"
        # calls on the wire at Ctrl+C were let land: everything billed is journaled
        assert stopped["api_stats"]["calls"] == server.stats()["answered"]
        resumed = run_cli(victim_args(tmp_path), cli_env(server))
        assert resumed.returncode == 0, resumed.stderr
    finally:
        server.stop()
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])


def test_second_process_is_refused_and_a_killed_lock_does_not_block(tmp_path: Path) -> None:
    server = make_server(latency=0.05)
    try:
        env = cli_env(server)
        first = start_cli(victim_args(tmp_path), env)
        wait_for((tmp_path / "victim" / "config.json").exists)
        second = run_cli(victim_args(tmp_path), env, timeout=30)
        assert second.returncode == 2
        assert "in use by another process" in second.stderr
        first.kill()
        first.wait()
        server.set_faults(latency=0.0)
        third = run_cli(victim_args(tmp_path), env)
        assert third.returncode == 0, third.stderr
    finally:
        server.stop()


def test_resume_guard_names_each_differing_field_and_allows_runtime_knobs(
    tmp_path: Path,
) -> None:
    with FakeLLMServer() as server:
        env = cli_env(server)
        kill_after_generation(server, tmp_path, 0)
        refused = run_cli(
            victim_args(
                tmp_path,
                "victim",
                "--dataset",
                "code_vuln",
                "--model",
                "other",
                "--algorithm",
                "de",
                "--population-size",
                "5",
                "--seed",
                "8",
            ),
            env,
        )
        assert refused.returncode == 2
        for field in ("dataset", "model", "algorithm", "population_size", "seed"):
            assert field in refused.stderr
        allowed = run_cli(
            victim_args(
                tmp_path,
                "victim",
                "--max-retries",
                "5",
                "--retry-delay",
                "0.02",
                "--concurrency",
                "3",
                "--batch-size",
                "5",
            ),
            env,
        )
        assert allowed.returncode == 0, allowed.stderr


def test_finished_rerun_makes_no_calls_and_extension_continues(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        env = cli_env(server)
        short = victim_args(tmp_path, "victim")
        assert run_cli(short, env).returncode == 0
        answered = server.stats()["answered"]
        again = run_cli(short, env)
        assert again.returncode == 0 and "already finished" in again.stderr
        assert server.stats()["answered"] == answered
        longer = run_cli([*short, "--max-generations", "4"], env)
        assert longer.returncode == 0, longer.stderr
    doc = summary(tmp_path, "victim")
    assert len(doc["generations"]) == 5
    # What a run paid and pruned, like its wall time, depends on timing, not on the outcome.
    volatile = ("duration_s", "calls", "tokens", "cost_usd", "pruned_share")
    assert [{k: v for k, v in g.items() if k not in volatile} for g in doc["generations"][:4]] == [
        {k: v for k, v in g.items() if k not in volatile}
        for g in reference["summary"]["generations"]
    ]


def test_plain_run_resumes_only_when_told(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        env = cli_env(server)
        base = [*SMALL, *FAST_RETRY, "--result-dir", str(tmp_path)]
        proc = start_cli([*base, "--experiment-id", "default_1"], env)
        wait_for((tmp_path / "default_1" / "checkpoints" / "gen0_batch0.json").exists)
        proc.kill()
        proc.wait()
        fresh = run_cli([*base, "--max-generations", "0"], env)
        assert "starting a new one" in fresh.stderr
        auto = run_cli(base, {**env, "EVOPROMPT_AUTO_RESUME": "1"})
        assert auto.returncode == 0
        assert "Resuming unfinished experiment default_1" in auto.stderr
    assert summary(tmp_path, "default_1")["status"] == "finished"


def test_cleanup_keeps_only_the_newest_history(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        done = run_cli(
            victim_args(
                tmp_path,
                "victim",
                "--max-generations",
                "4",
                "--cleanup-every",
                "2",
                "--keep-last-n",
                "2",
            ),
            cli_env(server),
        )
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "victim" / "checkpoints"
    assert sorted(p.name for p in folder.glob("gen*_batch0.json")) == [
        "gen3_batch0.json",
        "gen4_batch0.json",
    ]
    # pruning is by generation; the held-out test phase's batches are its record and stay
    assert {p.name.split("_")[0] for p in (folder / "batches").iterdir()} == {
        "gen3",
        "gen4",
        "test1",
    }


def test_resume_with_another_batch_size_reuses_no_mismatched_batch(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        env = cli_env(server)
        small_batches = victim_args(tmp_path, "victim", "--batch-size", "8", "--max-calls", "600")
        stopped = run_cli(small_batches, env)
        assert stopped.returncode == 75, stopped.stderr
        large_batches = victim_args(tmp_path, "victim", "--batch-size", "24", "--max-calls", "0")
        resumed = run_cli(large_batches, env)
        assert resumed.returncode == 0, resumed.stderr
        duplicates = duplicate_answers(server)
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])
    assert duplicates == 0  # rows of batches cut differently come from the journal
