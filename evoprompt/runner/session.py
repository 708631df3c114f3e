"""Open, run and stop one experiment, usable from Python.

The CLI calls :func:`evoprompt.runner.launch.prepare` (which experiment, whether it resumes) and
runs a :class:`Session`; it keeps only printing, the terminal question, signals and exit codes.
When an experiment is finished and how every stop is saved live here; what a resume
restores is :mod:`evoprompt.runner.restore`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoprompt.branching.rollback import finish_pending
from evoprompt.checkpoint.atomic import DISK_FULL, disk_full, sweep_temp_files
from evoprompt.checkpoint.formats import refuse_newer
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.lock import ExperimentLock
from evoprompt.checkpoint.nofollow import (
    PathRefused,
    confine_to,
    make_dirs,
    remove_tree,
)
from evoprompt.checkpoint.schema import (
    BUDGET_EXHAUSTED,
    ERROR,
    INTERRUPTED,
    RollbackRecord,
    Stage,
    TestReport,
)
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.config import Config
from evoprompt.core.recorder import Cursor
from evoprompt.core.seeding import PopulationError
from evoprompt.display import Display, Silent
from evoprompt.llm.errors import (
    BudgetExceeded,
    FatalError,
    QuotaExhausted,
    RetriesExhausted,
    StopRequested,
)
from evoprompt.llm.outage import OutageTooLong
from evoprompt.metrics import MetricFailed
from evoprompt.runner.experiment import Experiment
from evoprompt.runner.restore import Resume, log_recovery, restore
from evoprompt.runner.shared import Shared
from evoprompt.runner.stored import StoredError, read_stored
from evoprompt.runner.task import Task

GRACE_S = 2.0  # after a stop request, how long requests on the wire may take to land


# -- running it ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a run ended. ``kind``: finished, interrupted, budget, endpoint, quota, fatal,
    population, disk_full or unsafe (a planted link); ``line`` says it to the user (empty
    when finished)."""

    kind: str
    line: str = ""
    cursor: Cursor = field(default_factory=Cursor)
    report: TestReport | None = None  # what a ``retest`` run found or recorded


def _stop_of(exc: BaseException, stopping: bool) -> tuple[Stage, str, str] | None:
    """(stage to save, outcome kind, line for the user) for an expected way of stopping."""
    if isinstance(exc, (asyncio.CancelledError, StopRequested)) and stopping:
        return INTERRUPTED, "interrupted", ""
    if isinstance(exc, BudgetExceeded):
        return BUDGET_EXHAUSTED, "budget", f"stopped: {exc}"
    if isinstance(exc, OutageTooLong):
        return (
            ERROR,
            "endpoint",
            f"error: the {exc.where or 'LLM endpoint'} stayed unreachable for "
            f"{exc.seconds:.0f}s (--max-outage): {exc.last.reason}; resume once it is back",
        )
    if isinstance(exc, RetriesExhausted):
        return (
            ERROR,
            "endpoint",
            f"error: the {exc.where or 'LLM endpoint'} kept failing: {exc.last.reason} (a call "
            f"failed all {exc.attempts} of its attempts); resume once it is back",
        )
    if isinstance(exc, FatalError):
        kind = "quota" if isinstance(exc, QuotaExhausted) else "fatal"
        return ERROR, kind, f"error: {exc.reason}; {exc.hint}"
    if isinstance(exc, PopulationError):
        return ERROR, "population", f"error: {exc}"
    if isinstance(exc, MetricFailed):
        return ERROR, "fatal", f"error: {exc}; fix it and resume (answers are journaled)"
    return None


class Session:
    """One experiment, locked for the life of the session: restore, run, stop, close.

    Use as a context manager: ``with Session(...) as session: ...``. The lock is released
    on exit; the experiment's resources are closed when :meth:`run` ends.
    """

    def __init__(
        self,
        config: Config,
        exp_dir: Path,
        api_key: str,
        *,
        resuming: bool,
        display: Display | None = None,
        task: Task | None = None,
        grace_s: float = GRACE_S,
        shared: Shared | None = None,
        trust: bool = False,
    ):
        self.config = config
        self.trust = trust  # --trust-folder: unchecked journal rows and rollbacks are kept
        self.exp_dir = exp_dir
        self.api_key = api_key
        self.resuming = resuming
        self.display = display or Silent()
        self.task = task
        self.grace_s = grace_s
        self.shared = shared
        self.lock = ExperimentLock(exp_dir)
        self.experiment: Experiment | None = None
        self.resume: Resume | None = None
        self._task: asyncio.Task[Any] | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self._stops = 0
        self._created = False
        self.stop_reason: int | None = None  # what asked first (the CLI passes the signal)

    def __enter__(self) -> Session:
        confine_to(self.exp_dir.parent)
        make_dirs(self.exp_dir)  # refuses a link as the folder, before anything looks inside
        # New, or reserved empty by the CLI for this run: nothing in it is anyone else's.
        self._created = not any(self.exp_dir.iterdir())
        self.lock.acquire()
        layout = Layout(self.exp_dir)
        try:
            for folder in (layout.exp_dir, layout.checkpoints, layout.batches):
                sweep_temp_files(folder)  # what writes cut short by a kill -9 left
        except BaseException:
            self.lock.release()
            raise
        return self

    def discard(self) -> None:
        """Remove the folder of a new experiment that failed to open: it was created by this
        session and holds no config, checkpoint or answer, only the lock and an empty journal."""
        if self._created and not self.resuming:
            remove_tree(self.exp_dir)

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def open(self) -> ExperimentState:
        """Build the experiment and its state: restored when resuming, new otherwise.

        Raises ConfigError, JournalUnusable or FatalError for unusable input, and UnsafePickle
        for a tampered state.pkl (nothing in it runs).
        """
        finished: list[RollbackRecord] = []
        if self.resuming:
            refuse_newer(self.exp_dir)  # before the journal or a rollback is touched
        if self.resuming and self.config.checkpoint:
            # A rollback killed after its commit point (signed, or --trust-folder): before the
            # journal is opened, so one that is refused leaves every file as it was.
            finished = finish_pending(self.exp_dir, trust=self.trust)
        self.experiment = Experiment(
            self.config,
            self.exp_dir,
            self.api_key,
            display=self.display,
            task=self.task,
            shared=self.shared,
            trust=self.trust,
        )
        if self.resuming:
            if self.config.checkpoint:
                # Confirmed when they were resolved: signed, so the next resume is silent.
                with contextlib.suppress(StoredError):
                    read_stored(self.exp_dir).seal(self.config, trust=self.trust)
            state, self.resume = restore(self.experiment)
            self.resume.notes[:0] = [
                f"finished an interrupted rollback from generation {r.from_generation} to "
                f"{r.to_generation} ({r.answers} answers set aside in checkpoints/rolled_back/)"
                for r in finished
            ]
            if self.config.checkpoint and not self.is_finished(state):
                log_recovery(self.exp_dir, self.resume, state)
        else:
            state = ExperimentState.new(self.exp_dir.name, self.config.seed)
            self.experiment.write_config()
        return state

    def is_finished(self, state: ExperimentState) -> bool:
        """A resumed experiment with nothing left to do (its stop said finished)."""
        resume = self.resume
        return (
            resume is not None
            and resume.finished
            and state.generation >= self.config.max_generations
        )

    def request_stop(self, reason: int | None = None) -> None:
        """Stop new calls; those on the wire get ``grace_s`` to land in the journal (they are
        paid for). A second request, or the grace running out, cancels the run."""
        self._stops += 1
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.experiment is not None:
            self.experiment.stop()
        task = self._task
        if task is None:
            return
        if self._stops == 1:
            self._grace_timer = asyncio.get_running_loop().call_later(self.grace_s, task.cancel)
        else:
            task.cancel()

    async def run(self, state: ExperimentState, *, retest: list[str] | None = None) -> Outcome:
        """Run the engine to the end or to a stop; every stop is saved before returning.

        With ``retest`` (prompts; empty for the finalists) only a test phase runs, on the test
        set of this session's config, and the experiment's recorded stop is kept.
        Unexpected exceptions (bugs) propagate after the stop save, so the run stays resumable.
        """
        assert self.experiment is not None
        engine = self.experiment.build_engine(state)
        recorder = engine.recorder
        self._task = asyncio.current_task()
        try:
            if retest is not None:
                kept = self.resume.stage if self.resume and self.resume.stage else INTERRUPTED
                report = await engine.retest(retest, kept)
                return Outcome("finished", cursor=recorder.cursor, report=report)
            await engine.run()
            return Outcome("finished", cursor=recorder.cursor)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, PathRefused):
                return Outcome("unsafe", f"error: {exc}", recorder.cursor)
            if disk_full(exc):
                return Outcome("disk_full", DISK_FULL, recorder.cursor)
            stop = _stop_of(exc, self._stops > 0)
            if stop is None and isinstance(exc, asyncio.CancelledError):
                raise
            stage, kind, line = stop or (ERROR, "bug", "")
            try:
                recorder.stopped_now(stage)
            except (OSError, sqlite3.Error) as save_exc:
                if not disk_full(save_exc):
                    raise
                line += " (the disk is full: progress up to the last checkpoint is kept)"
            if stop is None:
                raise  # a bug: the checkpoint is saved, show the traceback
            return Outcome(kind, line, recorder.cursor)
        finally:
            self._task = None
            if self._grace_timer is not None:  # the run stopped: nothing left to cancel, and
                self._grace_timer.cancel()  # a late cancel would break off the closing below
            await self.experiment.aclose()
