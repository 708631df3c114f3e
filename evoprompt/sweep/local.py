"""The local engine: every cell a concurrent asyncio task in this process.

Cells are ordinary :class:`~evoprompt.runner.session.Session` runs that share one
:class:`~evoprompt.runner.shared.Shared` (one adaptive limiter and one transport per endpoint, one
budget), so ``--concurrency`` is the total in flight against an endpoint and the budgets hold
for the whole sweep. ``max_parallel`` bounds the cells in progress. A stop (Ctrl+C) reaches
every running cell, each saves as a single run would, and no further cell starts.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from evoprompt.checkpoint.journal_schema import JournalUnusable
from evoprompt.checkpoint.lock import ExperimentLocked
from evoprompt.checkpoint.nofollow import PathRefused
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.schema.fields import NewerFormat
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.config import ConfigError
from evoprompt.data.loader import DatasetError
from evoprompt.llm.errors import FatalError
from evoprompt.runner.session import Outcome, Session
from evoprompt.runner.shared import Shared
from evoprompt.runner.task import load_task
from evoprompt.sweep.plan import CellPlan

# Outcomes after which the other cells go on; any other (a stop, a budget, an endpoint that
# keeps failing, a wrong key) stops the whole sweep: it would hit the other cells too.
CELL_ONLY = ("finished", "population")


@dataclass(frozen=True)
class CellEnd:
    """How one cell ended in this run (kind as :class:`Outcome`, plus ``bug``)."""

    kind: str
    line: str = ""


def status_of(end: CellEnd) -> str:
    """The cell's status in sweep.json after this end."""
    return end.kind if end.kind in ("finished", "interrupted", "budget") else "error"


Listener = Callable[[str, str, CellEnd | None], None]  # (cell id, status, end)


class LocalEngine:
    def __init__(
        self,
        plans: list[CellPlan],
        shared: Shared,
        *,
        max_parallel: int,
        grace_s: float,
        on_change: Listener,
    ):
        self.plans = plans
        self.shared = shared
        self.grace_s = grace_s
        self.on_change = on_change
        self._slots = asyncio.Semaphore(max_parallel)
        self._opening = asyncio.Lock()
        self._sessions: dict[str, Session] = {}
        self._stopping = False
        self.stop_reason: int | None = None

    def stop(self, reason: int | None = None) -> None:
        """Start no further cell and stop the running ones (a second call stops at once)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stopping = True
        for session in list(self._sessions.values()):
            session.request_stop(reason)

    async def run(self) -> dict[str, CellEnd]:
        """Run every cell; the ends of those that ran (a cell never started is absent)."""
        ends: dict[str, CellEnd] = {}
        try:
            await asyncio.gather(*(self._cell(plan, ends) for plan in self.plans))
        finally:
            await self.shared.aclose()
        return ends

    async def _cell(self, plan: CellPlan, ends: dict[str, CellEnd]) -> None:
        async with self._slots:
            # Opening a cell (its folder, journal and checkpoints, fsynced) blocks the loop for
            # tens of milliseconds: cells open one at a time, the loop serving the calls of
            # those already running in between, so the first request goes out once the first
            # cell is open, not once all are (a 2,000-cell sweep waited minutes).
            async with self._opening:
                await asyncio.sleep(0)
                if self._stopping:
                    return
                self.on_change(plan.id, "running", None)
                opened = self._open(plan)
            end = opened if isinstance(opened, CellEnd) else await self._run(plan, *opened)
            ends[plan.id] = end
            self.on_change(plan.id, status_of(end), end)
            if end.kind not in CELL_ONLY and not self._stopping:
                self.stop(self.stop_reason)

    async def _run(self, plan: CellPlan, session: Session, state: ExperimentState) -> CellEnd:
        try:
            return await self._run_session(plan, session, state)
        finally:
            self._sessions.pop(plan.id, None)
            session.__exit__(None, None, None)

    def _open(self, plan: CellPlan) -> tuple[Session, ExperimentState] | CellEnd:
        try:
            session = Session(
                plan.config,
                plan.exp_dir,
                self.shared.api_key,
                resuming=plan.resuming,
                task=load_task(plan.config),
                grace_s=self.grace_s,
                shared=self.shared,
                trust=plan.trust,
            )
            session.__enter__()
        except (DatasetError, OSError, ExperimentLocked, PathRefused) as exc:
            return CellEnd("fatal", f"error: {exc}")
        try:
            return session, session.open()
        except (
            ConfigError,
            JournalUnusable,
            FatalError,
            UnsafePickle,
            PathRefused,
            NewerFormat,
        ) as exc:
            session.__exit__(None, None, None)
            return CellEnd("fatal", f"error: {exc}")

    async def _run_session(
        self, plan: CellPlan, session: Session, state: ExperimentState
    ) -> CellEnd:
        experiment = session.experiment
        assert experiment is not None
        if session.is_finished(state) or self._stopping:
            await experiment.aclose()
            return CellEnd("finished" if session.is_finished(state) else "interrupted")
        self._sessions[plan.id] = session
        try:
            outcome: Outcome = await session.run(state)
        except Exception:
            return CellEnd("bug", traceback.format_exc())
        return CellEnd(outcome.kind, outcome.line)
