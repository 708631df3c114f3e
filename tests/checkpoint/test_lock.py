"""One process per experiment; a lock left by a killed process does not block the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evoprompt.checkpoint.lock import ExperimentLock, ExperimentLocked

ROOT = Path(__file__).resolve().parents[2]

TRY_LOCK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from evoprompt.checkpoint.lock import ExperimentLock, ExperimentLocked
    try:
        ExperimentLock(Path(sys.argv[1])).acquire()
    except ExperimentLocked as exc:
        print(exc)
        sys.exit(3)
    print("acquired")
    """
)

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from evoprompt.checkpoint.lock import ExperimentLock
    ExperimentLock(Path(sys.argv[1])).acquire()
    print("holding", flush=True)
    time.sleep(60)
    """
)


def python(code: str, exp_dir: Path) -> list[str]:
    return [sys.executable, "-c", code, str(exp_dir)]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def try_in_subprocess(exp_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        python(TRY_LOCK, exp_dir), capture_output=True, text=True, timeout=30, env=env()
    )


def test_second_process_fails_while_the_first_holds(tmp_path: Path) -> None:
    with ExperimentLock(tmp_path):
        second = try_in_subprocess(tmp_path)
        assert second.returncode == 3, second.stderr
        assert f"experiment {tmp_path.name} is in use by another process" in second.stdout
        assert f"pid {os.getpid()}" in second.stdout
    after = try_in_subprocess(tmp_path)
    assert after.returncode == 0 and after.stdout.strip() == "acquired"


def test_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        python(HOLD_LOCK, tmp_path), stdout=subprocess.PIPE, text=True, env=env()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(ExperimentLocked, match=f"pid {holder.pid}"):
            ExperimentLock(tmp_path).acquire()
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=10) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    lock = ExperimentLock(tmp_path)
    lock.acquire()  # no stale-lock cleanup needed: the kernel dropped the flock
    try:
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
    finally:
        lock.release()


def test_release_and_reacquire_in_one_process(tmp_path: Path) -> None:
    lock = ExperimentLock(tmp_path)
    lock.acquire()
    with pytest.raises(ExperimentLocked):
        ExperimentLock(tmp_path).acquire()  # a second open file: refused like another process
    lock.release()
    lock.release()  # idempotent
    with ExperimentLock(tmp_path):
        pass
