"""The tracker of a run: syncs in a child process (:mod:`.agent`), never on the scoring path.

The recorder pokes it after each save (a generation's end, a test phase, the stop): one line
to the child, which syncs the folder from its files. When the tracking server is down or slow
the run goes on: one line says so, and the next sync (the next generation, the end, or the
``track ID`` command) logs what is missing. Closing waits a bounded time for the final sync,
then stops the child and leaves the rest to ``track``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import evoprompt
from evoprompt.tracking.agent import URI_ENV, priority, reason
from evoprompt.tracking.sync import Target, target

CLOSE_WAIT_S = 60.0  # the most a run's end waits for its final sync


class Tracker:
    """Syncs ``folder`` (an experiment, or a sweep with ``sweep=True``) to ``where``."""

    def __init__(
        self, folder: Path, configured: str, say: Callable[[str], None], *, sweep: bool = False
    ):
        self.folder = folder
        self.configured = configured  # the agent derives the same target from it
        self.where: Target = target(configured, folder)
        self.say = say
        self.sweep = sweep
        self.error: str | None = None  # why the last sync failed (None: it did not)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._said = False
        self._closing = False

    def poke(self) -> None:
        """Sync soon (returns at once: called from the recorder's writer thread)."""
        self._send("sync")

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """The final sync (artifacts too), waited for at most ``wait_s``."""
        self._closing = True
        self._send("final")
        proc, reader = self._proc, self._reader
        if proc is None or reader is None:
            return
        priority(proc.pid, idle=False)
        reader.join(wait_s)
        if reader.is_alive():
            self.error = f"no answer within {wait_s:.0f}s"
            proc.kill()
        proc.wait()
        if self.error is not None:
            self.say(
                f"tracking: not everything reached MLflow at {self.where.shown} ({self.error}); "
                f"log the rest with the command: track {self.folder.name}"
            )

    def _send(self, request: str) -> None:
        with self._lock:
            try:
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                assert self._proc is not None and self._proc.stdin is not None
                self._proc.stdin.write(request + "\n")
                self._proc.stdin.flush()
            except OSError as exc:  # no process, or it died: the next poke starts another
                self._failed(reason(exc))

    def _start(self) -> None:
        root = str(Path(evoprompt.__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, URI_ENV: self.configured, "PYTHONPATH": path}
        command = [sys.executable, "-m", "evoprompt.tracking.agent", str(self.folder)]
        self._proc = subprocess.Popen(
            command + (["--sweep"] if self.sweep else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self._proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("error "):
                self._failed(line[6:].strip())
            else:
                self.error = None

    def _failed(self, why: str) -> None:
        self.error = why
        if not self._said and not self._closing:
            self._said = True
            self.say(
                f"tracking: MLflow at {self.where.shown} failed ({why}); the run goes on, and "
                "what is missing is logged at the next generation, at the end, or by the "
                f"command: track {self.folder.name}"
            )


def open_tracker(
    track: str, track_uri: str, folder: Path, say: Callable[[str], None], *, sweep: bool = False
) -> Tracker | None:
    """The tracker a config asks for (``track``), or None."""
    if track != "mlflow":
        return None
    return Tracker(folder, track_uri, say, sweep=sweep)
