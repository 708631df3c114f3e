"""What the user sees while a run is going: tqdm bars and throttled notices on stderr.

The engine only calls this small interface; it never prints. Tests and library users pass
:class:`Silent`.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from tqdm import tqdm

from evoprompt.llm.outage import outage_notice
from evoprompt.llm.retry import retry_notice


class Display(Protocol):
    def phase(self, title: str, total: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def retry(self, attempt: int, attempts: int, reason: str, wait: float) -> None: ...
    def outage(self, probe: int, down_s: float, limit: float, reason: str) -> None: ...
    def line(self, text: str) -> None: ...
    def close(self) -> None: ...


class Silent:
    def phase(self, title: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def retry(self, attempt: int, attempts: int, reason: str, wait: float) -> None:
        pass

    def outage(self, probe: int, down_s: float, limit: float, reason: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Bar(tqdm):  # type: ignore[type-arg]
    """A bar drawn only by this thread: tqdm's monitor thread would otherwise redraw a slow
    bar at any moment, in the middle of a line being printed or after the run's last words."""

    monitor_interval = 0


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Ticker:
    """Progress as plain lines, for output that is not a terminal (CI, nohup, a log file).

    A bar there would be thousands of carriage returns, or nothing; a line at a steady pace
    (phase, done/total, rate, ETA), as pip and Ray print when not on a terminal, shows the
    run is alive even while no call lands (a slow local model, a stalled endpoint). Its own
    daemon thread keeps the pace, so the loop never waits on it."""

    def __init__(self, write: Callable[[str], None], every_s: float = 10.0) -> None:
        self.write = write
        self.every_s = every_s
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._title = ""
        self._total = self._done = 0
        self._started = 0.0
        self._open = False
        self._thread: threading.Thread | None = None

    def start(self, title: str, total: int) -> None:
        with self._lock:
            self._title, self._total, self._done = title, total, 0
            self._started, self._open = time.monotonic(), True
            self._wake.notify_all()
        self.write(f"{title}: started, {total} requests")
        if self._thread is None:
            self._thread = threading.Thread(target=self._pace, name="progress-lines", daemon=True)
            self._thread.start()

    def advance(self, n: int) -> None:
        with self._lock:
            self._done += n

    def stop(self) -> None:
        with self._lock:  # written under the lock: no status line can follow this one
            if not self._open:
                return
            self._open = False
            self._wake.notify_all()
            elapsed = _clock(time.monotonic() - self._started)
            self.write(f"{self._title}: {self._done}/{self._total} in {elapsed}")

    def status(self) -> str:
        """``gen 1: scoring 6 prompts: 96/384 (25%), 3.2 req/s, 30s elapsed, ETA 1m30s``."""
        elapsed = time.monotonic() - self._started
        rate = self._done / elapsed if elapsed > 0 else 0.0
        share = f" ({100 * self._done // self._total}%)" if self._total else ""
        eta = _clock((self._total - self._done) / rate) if rate > 0 else "unknown"
        return (
            f"{self._title}: {self._done}/{self._total}{share}, {rate:.1f} req/s, "
            f"{_clock(elapsed)} elapsed, ETA {eta}"
        )

    def _pace(self) -> None:
        while True:
            with self._lock:
                while not self._open:
                    self._wake.wait()
                started = self._started
                self._wake.wait(self.every_s)
                if self._open and self._started == started:
                    self.write(self.status())


class Console:
    """A tqdm bar per phase; retry notices at most once per reason per ``quiet_s`` seconds.

    The bar's ``retries`` counts failed attempts that were retried, over all calls of this
    run (the journal's ``retried``); a retry notice's ``attempt 2/3`` counts one call's tries.
    """

    def __init__(
        self, quiet_s: float = 5.0, stream: TextIO = sys.stderr, every_s: float = 10.0
    ) -> None:
        self.quiet_s = quiet_s
        self.stream = stream
        self._bar: _Bar | None = None  # a counter bar: it iterates over nothing
        self._retries = 0
        self._last_said: dict[str, float] = {}
        # Bars only on a terminal: redirected to a file they are thousands of \r lines, so
        # there a Ticker prints a plain progress line at a steady pace instead.
        self._tty = hasattr(stream, "isatty") and stream.isatty()
        self._ticker = None if self._tty else Ticker(self.line, every_s)

    def phase(self, title: str, total: int) -> None:
        self.close()
        self._bar = _Bar(
            total=total,
            desc=title,
            unit="req",
            file=self.stream,
            leave=True,
            dynamic_ncols=True,
            disable=total == 0 or not self._tty,
        )
        if self._retries:
            self._bar.set_postfix_str(self._retry_text(), refresh=False)
        if self._ticker is not None and total:
            self._ticker.start(title, total)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)
        if self._ticker is not None:
            self._ticker.advance(n)

    def retry(self, attempt: int, attempts: int, reason: str, wait: float) -> None:
        self._retries += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self._retry_text(), refresh=False)
        now = time.monotonic()
        if now - self._last_said.get(reason, -self.quiet_s) >= self.quiet_s:
            self._last_said[reason] = now
            self.line(retry_notice(attempt, attempts, reason, wait))

    def outage(self, probe: int, down_s: float, limit: float, reason: str) -> None:
        """The pause and each probe on the progress line (a line each when not a terminal)."""
        text = outage_notice(probe, down_s, limit, reason)
        if self._tty and self._bar is not None and not self._bar.disable:
            self._bar.set_postfix_str(text)
        else:
            self.line(text)

    def _retry_text(self) -> str:
        return f"retries={self._retries} (all calls)"

    def line(self, text: str) -> None:
        """Print above the bar (never into it); with no bar open, just print."""
        tqdm.write(text, file=self.stream)

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
