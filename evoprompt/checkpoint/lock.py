"""One process per experiment: an ``flock`` the kernel releases when its holder dies.

A killed process cannot leave the lock stuck (the kernel drops it with the file descriptor),
so there is no stale-lock detection to get wrong. The holder's pid is written inside only to
make the error message useful.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import open_nofollow


class ExperimentLocked(RuntimeError):
    pass


class ExperimentLock:
    def __init__(self, exp_dir: Path):
        self.path = Layout(exp_dir).lock
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ExperimentLocked(
                f"experiment {self.path.parent.name} is in use by another process "
                f"(pid {holder}); wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ExperimentLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
