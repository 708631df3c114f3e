"""A full disk at start, at the lock, the journal, the recovery log and the report: one line,
exit 75, nothing lost, and no advice that throws data away. On a real small tmpfs (the test
mounts one as root; skipped where mounting is not permitted)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.journal_rows import open_readonly
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, kill_after_generation, outcome, run_cli, summary, victim_args
from tests.e2e.conftest import inspect

FULL_LINE = "error: the disk is full; everything saved so far is intact"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the file to delete to free it again."""
    ballast = disk / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (65536, 512, 1):  # down to the last byte
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)
    return ballast


def rows(journal: Path) -> int:
    with contextlib.closing(open_readonly(journal)) as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def assert_disk_full(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 75, done.stderr
    assert FULL_LINE in done.stderr or "cannot write" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "mv " not in done.stderr and "move it aside" not in done.stderr


def test_starting_on_a_full_disk_is_one_line_and_exit_75(small_disk: Path) -> None:
    fill(small_disk)
    with FakeLLMServer() as server:
        done = run_cli(["--result-dir", str(small_disk / "result")], cli_env(server))
    assert_disk_full(done)


def test_resuming_on_a_full_disk_keeps_everything_and_finishes_once_freed(
    small_disk: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        kill_after_generation(server, small_disk, 1)
        answers = rows(small_disk / "victim" / "journal.sqlite")
        ballast = fill(small_disk)
        for _ in range(2):  # the journal's open, then the recovery log once that passes
            assert_disk_full(run_cli(victim_args(small_disk), cli_env(server)))
        # Nothing lost. (A run may still journal some answers on the "full" disk: SQLite reuses
        # space its WAL file already holds, so those writes need no new block; they are kept.)
        assert rows(small_disk / "victim" / "journal.sqlite") >= answers > 0
        report = inspect("report", "victim", "--format", "md", "--result-dir", str(small_disk))
        assert report.code == 75 and FULL_LINE in report.err, report
        ballast.unlink()
        done = run_cli(victim_args(small_disk), cli_env(server))
    assert done.returncode == 0, done.stderr
    assert outcome(summary(small_disk, "victim")) == outcome(reference["summary"])


def test_fill_really_fills(small_disk: Path) -> None:
    fill(small_disk)
    with pytest.raises(OSError) as caught:
        (small_disk / "more").write_bytes(b"x" * 8192)
    assert caught.value.errno == errno.ENOSPC
    shutil.rmtree(small_disk / "more", ignore_errors=True)
