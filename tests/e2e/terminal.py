"""A real terminal for end-to-end tests: a command on a pseudo-terminal, typed at, read back.

The child gets the pty as its controlling terminal (so Ctrl+C is the terminal's SIGINT to its
process group, exactly as at a keyboard) and a shell, so printed commands can be pasted as is.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from pathlib import Path

CTRL_C = b"\x03"


class Terminal:
    """``bash`` on a fresh 120x40 pty in ``cwd`` with ``env``; everything it writes is kept."""

    def __init__(self, cwd: Path, env: dict[str, str], columns: int = 120) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a plain non-interactive-profile shell
            os.chdir(cwd)
            os.execvpe("bash", ["bash", "--norc", "--noprofile"], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        self.output = b""

    def type(self, text: str | bytes) -> None:
        os.write(self.fd, text.encode() if isinstance(text, str) else text)

    def read(self, seconds: float = 0.1) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the shell exited
                return
            if not chunk:
                return
            self.output += chunk

    def text(self, since: int = 0) -> str:
        return self.output[since:].decode("utf-8", "replace")

    def wait_for(self, pattern: str, timeout: float, since: int = 0) -> re.Match[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = re.search(pattern, self.text(since))
            if found:
                return found
            self.read(0.2)
        raise AssertionError(f"{pattern!r} not seen in {timeout}s; screen:\n{self.text(since)}")

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)
