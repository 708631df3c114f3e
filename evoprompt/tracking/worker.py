"""The tracker of a run: syncs on a background thread, never on the scoring path.

The recorder pokes it after each save (a generation's end, a test phase, the stop); the
thread syncs the folder from its files, and pokes that arrive meanwhile fold into the next
sync. When the tracker is down or slow the run goes on: one line says so, and the next sync
(the next generation, the end, or ``main.py track ID``) logs what is missing. Closing waits a
bounded time for the final sync, then leaves the rest to ``main.py track``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from evoprompt.tracking.sync import Target, sync_experiment, sync_sweep, target

CLOSE_WAIT_S = 30.0  # the most a run's end waits for its final sync


def reason(exc: BaseException) -> str:
    """The first line of an error, short (MLflow's can run to pages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class Tracker:
    """Syncs ``folder`` (an experiment, or a sweep with ``sweep=True``) to ``where``."""

    def __init__(
        self, folder: Path, where: Target, say: Callable[[str], None], *, sweep: bool = False
    ):
        self.folder = folder
        self.where = where
        self.say = say
        self.sweep = sweep
        self.error: str | None = None  # why the last sync failed (None: it did not)
        self._wanted = threading.Event()
        self._final = False
        self._said = False
        self._thread = threading.Thread(target=self._loop, name="tracking", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Sync soon (returns at once: called from the recorder's writer thread)."""
        self._wanted.set()

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """The final sync (artifacts too), waited for at most ``wait_s``."""
        self._final = True
        self._wanted.set()
        self._thread.join(wait_s)
        if self._thread.is_alive():
            self.error = self.error or f"no answer within {wait_s:.0f}s"
        if self.error is not None:
            self.say(
                f"tracking: not everything reached MLflow at {self.where.shown} ({self.error}); "
                f"log the rest with the command: track {self.folder.name}"
            )

    def _loop(self) -> None:
        sink = None
        while True:
            self._wanted.wait()
            self._wanted.clear()
            final = self._final
            try:
                if sink is None:
                    from evoprompt.tracking.mlflow_sink import MlflowSink

                    sink = MlflowSink(self.where.uri, self.where.artifact_root)
                sync = sync_sweep if self.sweep else sync_experiment
                sync(self.folder, sink, self.where, final=final)
                self.error = None
            except Exception as exc:  # a tracker is never a reason to stop the run
                self.error = reason(exc)
                if not self._said and not final:
                    self._said = True
                    self.say(
                        f"tracking: MLflow at {self.where.shown} failed ({self.error}); the run "
                        "goes on, and what is missing is logged at the next generation, at the "
                        f"end, or by the command: track {self.folder.name}"
                    )
            if final:
                return


def open_tracker(
    track: str, track_uri: str, folder: Path, say: Callable[[str], None], *, sweep: bool = False
) -> Tracker | None:
    """The tracker a config asks for (``track``), or None."""
    if track != "mlflow":
        return None
    return Tracker(folder, target(track_uri, folder), say, sweep=sweep)
