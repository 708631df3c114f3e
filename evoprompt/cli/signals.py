"""Ctrl+C and SIGTERM while a command runs: each asks for the graceful stop, and a program
that cannot even receive the request (user code stuck) is ended at once instead of never.

The event loop's own handlers (``loop.add_signal_handler``) run only when the loop turns, and
a custom metric that never returns holds the loop: every signal would wait for it and only
kill -9 could end the run. These handlers are Python's (``signal.signal``): they run in the
main thread between two bytecodes, also while user code loops, sleeps or waits, and hand each
request to the loop thread-safely, together with a ping. If the loop does not answer the ping
in time (``STUCK_S``, after the stop's grace for the first signal), or the stop it took has
not ended ``STOP_S`` after the grace (user code got stuck during it), a watchdog thread prints
one line (progress up to the last journaled answer is safe, and how to resume) and exits with
the signal's code. That exit is as safe as the kill -9 the program promises to survive: every
answer is journaled as it lands and every file is replaced atomically.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SAFE = "Progress up to the last journaled answer is safe."  # what a hard exit keeps
STUCK_S = 1.0  # how long a loop that runs may take to answer a ping (it answers in microseconds)
STOP_S = 10.0  # how long a stop the loop took may take after the grace (its saves: a second)


def signal_name(signum: int | None) -> str:
    return "SIGTERM" if signum == signal.SIGTERM else "Ctrl+C"


def signal_exit_code(signum: int | None) -> int:
    """130 for Ctrl+C, 128 + N for signal N (143 for SIGTERM)."""
    return 128 + (signum or signal.SIGINT)


@dataclass
class _Ping:
    """A signal handed to the loop; the loop marks it answered when it takes it."""

    deadline: float  # time.monotonic() by which the loop must have answered
    answered: bool = False


class StopSignals:
    """Install the handlers for the life of a ``with`` block, inside the running loop.

    ``request_stop(signum)`` is the graceful stop (a second call stops at once); ``grace_s``
    is how long the first one may take before the loop must have answered; ``farewell`` ends
    the line printed by a hard exit (what is safe and the command that goes on).

    The handler itself only appends to a list and writes to a pipe: it may run in the middle
    of any code of the main thread, so it takes no lock and starts no thread. The watchdog
    thread, started with the block, sleeps on the pipe until a ping is due.
    """

    def __init__(self, request_stop: Callable[[int], None], grace_s: float, farewell: str):
        self.request_stop = request_stop
        self.grace_s = grace_s
        self.farewell = farewell
        self._loop: asyncio.AbstractEventLoop | None = None
        self._first: int | None = None  # the first signal names the stop and its exit code
        self._pings: list[_Ping] = []
        self._end_by: float | None = None  # when the stop must have ended (set by the first)
        self._over = False  # the block ended: nothing is stuck any more
        self._wake_r, self._wake_w = os.pipe()
        self._watchdog = threading.Thread(target=self._watch, name="stop-watchdog", daemon=True)
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        self._loop = asyncio.get_running_loop()
        self._watchdog.start()
        self._old = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, old in self._old.items():
            signal.signal(signum, old)
        self._over = True
        os.write(self._wake_w, b"\0")
        self._watchdog.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self._first is None
        now = time.monotonic()
        if first:
            self._first = signum
            self._end_by = now + self.grace_s + STOP_S
        ping = _Ping(now + (self.grace_s + STUCK_S if first else STUCK_S))
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._deliver, signum, ping)
        except RuntimeError:  # the loop is closed: the run is over
            return
        self._pings.append(ping)
        os.write(self._wake_w, b"\0")

    def _deliver(self, signum: int, ping: _Ping) -> None:
        ping.answered = True
        self.request_stop(signum)

    def _watch(self) -> None:
        """Sleep until a deadline; end the process at one the loop has not met."""
        while not self._over:
            now = time.monotonic()
            due = [p.deadline for p in list(self._pings) if not p.answered]
            due += [self._end_by] if self._end_by is not None else []
            if due and min(due) <= now:
                self._exit_now()
            timeout = min(due) - now if due else None
            if select.select([self._wake_r], [], [], timeout)[0]:
                os.read(self._wake_r, 64)

    def _exit_now(self) -> None:
        line = (
            f"\nInterrupted by {signal_name(self._first)}, but the stop did not complete "
            f"(user code, such as a custom metric, does not return): exiting at once. "
            f"{self.farewell}\n"
        )
        os.write(2, line.encode(errors="replace"))
        os._exit(signal_exit_code(self._first))
