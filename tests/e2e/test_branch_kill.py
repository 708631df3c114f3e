"""kill -9 during fork and rollback, at random moments: the source never changes, and the
operation is either not started or done (a rollback: or completed by the next resume)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, outcome, run_cli, start_cli, summary
from tests.e2e.conftest import Source, run_args, tree_hashes

KILLS = 6


def _kill_at(argv: list[str], env: dict[str, str], delay: float) -> bool:
    """Start the CLI, SIGKILL it after ``delay`` s; whether it was still running."""
    proc = start_cli(argv, env)
    time.sleep(delay)
    alive = proc.poll() is None
    proc.kill()
    proc.communicate(timeout=60)
    return alive


def _duration(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    done = run_cli(argv, env)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


def test_kill_during_fork_never_changes_the_source(tmp_path: Path, source: Source) -> None:
    src = source.copy_to(tmp_path)
    before = tree_hashes(src)
    chooser = random.Random(19)
    with FakeLLMServer() as fake:
        env = cli_env(fake)

        def argv(exp_id: str) -> list[str]:
            return [
                "fork",
                "src",
                "--at-generation",
                "1",
                *run_args(tmp_path, "--experiment-id", exp_id),
            ]

        span = _duration(argv("timed"), env)
        for i in range(KILLS):
            exp_id = f"k{i}"
            _kill_at(argv(exp_id), env, chooser.uniform(0.2, 1.0) * span)
            assert tree_hashes(src) == before
            fork = tmp_path / exp_id
            if fork.exists():  # done: complete, and a resume finishes it like the source
                assert (fork / "config.json").exists() and (fork / "journal.sqlite").exists()
                done = run_cli(run_args(tmp_path, "--experiment-id", exp_id), env)
                assert done.returncode == 0, done.stderr
                assert outcome(summary(tmp_path, exp_id)) == outcome(source.summary)
        assert fake.counts["requests"] == 0
    listing = run_cli(["list", "--result-dir", str(tmp_path)], cli_env(None)).stdout
    assert ".staging" not in listing
    assert tree_hashes(src) == before


def test_kill_during_rollback_leaves_it_not_started_or_done(tmp_path: Path, source: Source) -> None:
    chooser = random.Random(1919)
    pristine = tree_hashes(source.root / "src")
    with FakeLLMServer() as fake:
        env = cli_env(fake)

        def argv(exp_id: str) -> list[str]:
            return ["rollback", exp_id, "--to-generation", "1", "--result-dir", str(tmp_path)]

        source.copy_to(tmp_path, "timed")
        span = _duration(argv("timed"), env)
        for i in range(KILLS):
            exp_id = f"k{i}"
            exp = source.copy_to(tmp_path, exp_id)
            _kill_at(argv(exp_id), env, chooser.uniform(0.2, 1.0) * span)
            aside = exp / "checkpoints/rolled_back"
            committed = aside.is_dir() and any(not p.name.startswith(".") for p in aside.iterdir())
            if not committed:  # not started: every file as it was (a hidden set-aside aside)
                now = tree_hashes(exp)
                assert {k: v for k, v in now.items() if "rolled_back/." not in k} == pristine
            done = run_cli(run_args(tmp_path, "--experiment-id", exp_id), env)
            assert done.returncode == 0, done.stderr
            assert outcome(summary(tmp_path, exp_id)) == outcome(source.summary)
            if committed:
                records = list(aside.glob("*/rollback.json"))
                assert len(records) == 1 and '"done": true' in records[0].read_text()
    assert tree_hashes(source.root / "src") == pristine
