"""Ctrl+C and SIGTERM while a command runs: each asks for the graceful stop, and a program
that cannot even receive the request (user code stuck) is ended at once instead of never.

The event loop's own handlers (``loop.add_signal_handler``) run only when the loop turns, and
a custom metric that never returns holds the loop: every signal would wait for it and only
kill -9 could end the run. These handlers are Python's (``signal.signal``): they run in the
main thread between two bytecodes, also while user code loops, sleeps or waits, and hand each
request to the loop thread-safely, together with a ping. If the loop does not answer the ping
in time (``STUCK_S``, after the stop's grace for the first signal), a watchdog thread prints
one line (progress up to the last journaled answer is safe, and how to resume) and exits with
the signal's code. That exit is as safe as the kill -9 the program promises to survive: every
answer is journaled as it lands and every file is replaced atomically.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SAFE = "Progress up to the last journaled answer is safe."  # what a hard exit keeps
STUCK_S = 1.0  # how long a loop that runs may take to answer a ping (it answers in microseconds)


def signal_name(signum: int | None) -> str:
    return "SIGTERM" if signum == signal.SIGTERM else "Ctrl+C"


def signal_exit_code(signum: int | None) -> int:
    """130 for Ctrl+C, 128 + N for signal N (143 for SIGTERM)."""
    return 128 + (signum or signal.SIGINT)


class StopSignals:
    """Install the handlers for the life of a ``with`` block, inside the running loop.

    ``request_stop(signum)`` is the graceful stop (a second call stops at once); ``grace_s``
    is how long the first one may take before the loop must have answered; ``farewell`` ends
    the line printed by a hard exit (what is safe and the command that goes on).
    """

    def __init__(self, request_stop: Callable[[int], None], grace_s: float, farewell: str):
        self.request_stop = request_stop
        self.grace_s = grace_s
        self.farewell = farewell
        self._loop: asyncio.AbstractEventLoop | None = None
        self._first: int | None = None  # the first signal names the stop and its exit code
        self._over = threading.Event()  # the block ended: nothing is stuck any more
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        self._loop = asyncio.get_running_loop()
        self._old = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._over.set()
        for signum, old in self._old.items():
            signal.signal(signum, old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self._first is None
        if first:
            self._first = signum
        answered = threading.Event()
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._deliver, signum, answered)
        except RuntimeError:  # the loop is closed: the run is over
            return
        wait = self.grace_s + STUCK_S if first else STUCK_S
        threading.Thread(target=self._watch, args=(answered, wait), daemon=True).start()

    def _deliver(self, signum: int, answered: threading.Event) -> None:
        answered.set()
        self.request_stop(signum)

    def _watch(self, answered: threading.Event, wait: float) -> None:
        if answered.wait(wait) or self._over.is_set():
            return
        line = (
            f"\nInterrupted by {signal_name(self._first)}, but the program did not respond "
            f"(user code, such as a custom metric, does not return): exiting at once. "
            f"{self.farewell}\n"
        )
        os.write(2, line.encode(errors="replace"))
        os._exit(signal_exit_code(self._first))
