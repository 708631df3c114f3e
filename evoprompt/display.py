"""What the user sees while a run is going: tqdm bars and throttled notices on stderr.

The engine only calls this small interface; it never prints. Tests and library users pass
:class:`Silent`.
"""

from __future__ import annotations

import sys
import time
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


class Console:
    """A tqdm bar per phase; retry notices at most once per reason per ``quiet_s`` seconds.

    The bar's ``retries`` counts failed attempts that were retried, over all calls of this
    run (the journal's ``retried``); a retry notice's ``attempt 2/3`` counts one call's tries.
    """

    def __init__(self, quiet_s: float = 5.0, stream: TextIO = sys.stderr) -> None:
        self.quiet_s = quiet_s
        self.stream = stream
        self._bar: _Bar | None = None  # a counter bar: it iterates over nothing
        self._retries = 0
        self._last_said: dict[str, float] = {}
        # Bars only on a terminal: redirected to a file they are thousands of \r lines; the
        # per-generation summary lines still report progress there.
        self._tty = hasattr(stream, "isatty") and stream.isatty()

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

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

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
        if self._bar is not None:
            self._bar.close()
            self._bar = None
