"""The defining promise, tested by killing and corrupting real processes and files."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import time
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import read_checked_json, sha256_bytes, write_checked_json
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import (
    FAST_RETRY,
    SMALL,
    TouchFile,
    cli_env,
    make_server,
    outcome,
    run_cli,
    start_cli,
    summary,
    wait_for,
)


def args(result_dir: Path, exp_id: str = "victim", *extra: str) -> list[str]:
    return [*SMALL, *FAST_RETRY, "--result-dir", str(result_dir), "--experiment-id", exp_id, *extra]


def duplicate_answers(server: FakeLLMServer) -> int:
    return sum(n - 1 for n in server.answered_bodies.values())


def kill_after_generation(server: FakeLLMServer, result_dir: Path, generation: int) -> None:
    """Run until generation ``generation`` is checkpointed, then SIGKILL the process."""
    proc = start_cli(args(result_dir), cli_env(server))
    history = result_dir / "victim" / "checkpoints" / f"gen{generation}_batch0.json"
    wait_for(history.exists, timeout=60)
    proc.kill()
    proc.wait()


def test_sigkill_at_random_moments_resumes_to_the_uninterrupted_result(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    chooser = random.Random(20261125)
    server = make_server(latency=0.06)  # about 12 s of work: room for a dozen kills
    kills = 0
    try:
        env = cli_env(server)
        while kills < 12:
            proc = start_cli(args(tmp_path), env)
            time.sleep(chooser.uniform(0.5, 2.0))
            if proc.poll() is not None:
                break  # finished before this kill
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        final = run_cli(args(tmp_path), env)
        assert final.returncode == 0, final.stderr
        duplicates = duplicate_answers(server)
    finally:
        server.stop()
    assert kills >= 10
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])
    # Only calls in flight at a kill (at most `concurrency` = 8 each) can be answered twice.
    assert duplicates <= kills * 8
    log = [json.loads(line) for line in (tmp_path / "victim" / "recovery.log").open()]
    # every run after the first save resumes (a kill during start-up leaves nothing to resume)
    assert len(log) >= kills // 2


def test_sigint_saves_within_3s_and_the_resume_matches(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    server = make_server(latency=0.01)
    try:
        proc = start_cli(args(tmp_path), cli_env(server))
        batch = tmp_path / "victim" / "checkpoints" / "batches" / "gen1_batch0.json"
        wait_for(batch.exists, timeout=60)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
        elapsed = time.monotonic() - sent
        assert proc.returncode == 130, stderr
        assert elapsed < 3.0
        assert "Traceback" not in stderr
        assert "Resume with: python main.py --experiment-id victim" in stderr
        latest = read_checked_json(tmp_path / "victim" / "checkpoints" / "latest.json")
        assert latest["metadata"]["stage"] == "interrupted"
        stopped = summary(tmp_path, "victim")
        assert stopped["status"] == "interrupted"
        # calls on the wire at Ctrl+C were let land: everything billed is journaled
        assert stopped["api_stats"]["calls"] == server.stats()["answered"]
        resumed = run_cli(args(tmp_path), cli_env(server))
        assert resumed.returncode == 0, resumed.stderr
    finally:
        server.stop()
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])


def test_truncated_latest_json_falls_back_and_finishes(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 1)
        latest = tmp_path / "victim" / "checkpoints" / "latest.json"
        latest.write_bytes(latest.read_bytes()[:40])
        resumed = run_cli(args(tmp_path), cli_env(server))
    assert resumed.returncode == 0, resumed.stderr
    assert "latest.json is unusable" in resumed.stderr
    assert "from backup.json" in resumed.stderr
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])


def test_garbled_state_pkl_is_rebuilt_from_the_journal(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 2)
        state = tmp_path / "victim" / "checkpoints" / "state.pkl"
        raw = bytearray(state.read_bytes())
        raw[-20:-10] = b"\x00" * 10
        state.write_bytes(bytes(raw))
        answered_before = server.stats()["answered"]
        resumed = run_cli(args(tmp_path), cli_env(server))
        duplicates = duplicate_answers(server)
        answered = server.stats()["answered"] - answered_before
    assert resumed.returncode == 0, resumed.stderr
    assert "state.pkl is unusable (checksum mismatch" in resumed.stderr
    assert "replaying" in resumed.stderr
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])
    assert duplicates <= 8  # only the calls in flight at the kill
    assert answered < reference["server"]["answered"] / 2


def test_tampered_state_pkl_never_runs_its_payload(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 0)
        folder = tmp_path / "victim" / "checkpoints"
        body = pickle.dumps(TouchFile(marker))
        header = {"format": 1, "seq": 99, "sha256": sha256_bytes(body), "created": time.time()}
        (folder / "state.pkl").write_bytes(json.dumps(header).encode() + b"\n" + body)
        latest = read_checked_json(folder / "latest.json")
        latest.update(state_sha256=header["sha256"], state_seq=99)
        write_checked_json(folder / "latest.json", latest)
        resumed = run_cli(args(tmp_path), cli_env(server))
    assert resumed.returncode == 2
    assert "disallowed object 'posix.system'" in resumed.stderr
    assert "mv " in resumed.stderr and "Traceback" not in resumed.stderr
    assert not marker.exists()


def test_second_process_is_refused_and_a_killed_lock_does_not_block(tmp_path: Path) -> None:
    server = make_server(latency=0.05)
    try:
        env = cli_env(server)
        first = start_cli(args(tmp_path), env)
        wait_for((tmp_path / "victim" / "config.json").exists)
        second = run_cli(args(tmp_path), env, timeout=30)
        assert second.returncode == 2
        assert "in use by another process" in second.stderr
        first.kill()
        first.wait()
        server.set_faults(latency=0.0)
        third = run_cli(args(tmp_path), env)
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
            args(
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
            args(
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
        short = args(tmp_path, "victim")
        assert run_cli(short, env).returncode == 0
        answered = server.stats()["answered"]
        again = run_cli(short, env)
        assert again.returncode == 0 and "already finished" in again.stderr
        assert server.stats()["answered"] == answered
        longer = run_cli([*short, "--max-generations", "4"], env)
        assert longer.returncode == 0, longer.stderr
    doc = summary(tmp_path, "victim")
    assert len(doc["generations"]) == 5
    assert doc["generations"][:4] == [
        {**g, "duration_s": doc["generations"][i]["duration_s"]}
        for i, g in enumerate(reference["summary"]["generations"])
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
            args(
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
        stopped = run_cli(args(tmp_path, "victim", "--batch-size", "8", "--max-calls", "600"), env)
        assert stopped.returncode == 75, stopped.stderr
        resumed = run_cli(args(tmp_path, "victim", "--batch-size", "24", "--max-calls", "0"), env)
        assert resumed.returncode == 0, resumed.stderr
        duplicates = duplicate_answers(server)
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])
    assert duplicates == 0  # rows of batches cut differently come from the journal


def test_garbled_journal_is_one_clear_line(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 0)
        journal = tmp_path / "victim" / "journal.sqlite"
        for extra in tmp_path.joinpath("victim").glob("journal.sqlite-*"):
            extra.unlink()
        journal.write_bytes(os.urandom(4096))
        resumed = run_cli(args(tmp_path), cli_env(server))
    assert resumed.returncode == 2
    assert "is not a usable journal" in resumed.stderr and "mv " in resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert (tmp_path / "victim" / "checkpoints" / "state.pkl").exists()
