"""The Ray engine (``--engine ray``, extra ``evoprompt[ray]``): every cell a Ray task.

A task runs its cell with the local engine in the worker process, writing to the same
experiment folder (on a cluster, a path every node sees: shared storage). A worker that dies
is retried by Ray (``max_retries``); the retry resumes the cell from its checkpoint like a
killed run, so no answered call is sent again.

Limits across workers, by share rather than by a central actor (no round trip per request,
and nothing to leak when a worker dies): each cell in progress gets ``concurrency //
max_parallel`` requests in flight (at least one; ``max_parallel`` is capped at
``concurrency``), and each cell gets an equal share of the budgets. A stop (Ctrl+C) reaches
the workers through a small actor they poll; each cell saves as a single run would, and a
cell that has not ended ``KILL_S`` after a stop's grace has its worker killed.

Without ``--ray-address`` a local Ray is started for the command and shut down when it ends
(Ctrl+C included); the next run starts a fresh local Ray (``address="local"`` never joins a
stale one). After a kill -9 of the driver, Ray's own fate-sharing ends its workers only
seconds later, and they would go on asking (and paying) until then, for answers no one may
journal: so each cell watches its driver, by pid every ``WATCH_S`` on the driver's node, and
by the stopper actor (which dies with the driver) anywhere, and stops as on SIGTERM once it
is gone: nothing new is asked, and the calls in flight land in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

import ray

from evoprompt.checkpoint.layout import Layout
from evoprompt.config import Config
from evoprompt.runner.shared import Shared
from evoprompt.sweep.local import CELL_ONLY, CellEnd, Listener, LocalEngine, status_of
from evoprompt.sweep.plan import CellPlan

RETRIES = 3  # a cell's task is re-run this often after its worker died
POLL_S = 0.25
WATCH_S = 0.05  # how often a cell on the driver's node checks that the driver is alive
# How long the cells may take to save after a stop (after the grace, for the first) before
# their workers are killed: a cell whose loop user code holds (a custom metric that never
# returns) would never end, and the driver would wait for it forever.
KILL_S = 5.0
UNRESPONSIVE = (
    "its worker was killed (user code, such as a custom metric, did not return); progress up "
    "to its last journaled answer is safe"
)


@dataclass(frozen=True)
class Driver:
    """The process running the sweep, as its cells see it."""

    node_id: str
    pid: int

    @classmethod
    def this(cls) -> Driver:
        return cls(ray.get_runtime_context().get_node_id(), os.getpid())

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process: alive
            pass
        return True

    def watchable(self) -> bool:
        """Its pid means it here: same node (so the same processes), and alive at the start."""
        return ray.get_runtime_context().get_node_id() == self.node_id and self.alive()


@ray.remote(num_cpus=0)
class Stopper:
    """How many stops were asked (a second one stops the cells at once)."""

    def __init__(self) -> None:
        self.stops = 0

    def stop(self) -> None:
        self.stops += 1

    def count(self) -> int:
        return self.stops


def share(config: Config, parallel: int, cells: int) -> Config:
    """One cell's part of the sweep's limits."""
    return replace(
        config,
        concurrency=max(1, config.concurrency // parallel),
        max_calls=max(1, config.max_calls // cells) if config.max_calls else 0,
        max_tokens_total=max(1, config.max_tokens_total // cells) if config.max_tokens_total else 0,
        max_cost=config.max_cost / cells,
    )


def run_cell(
    plan: CellPlan, limits: Config, grace_s: float, stopper: Any, driver: Driver
) -> CellEnd:
    """A Ray task: run (or resume) one cell in this worker."""
    resuming = Layout(plan.exp_dir).config.is_file()  # a retried task resumes
    return asyncio.run(_cell(replace(plan, resuming=resuming), limits, grace_s, stopper, driver))


async def _cell(
    plan: CellPlan, limits: Config, grace_s: float, stopper: Any, driver: Driver
) -> CellEnd:
    shared = Shared(limits, os.environ.get("OPENAI_API_KEY", ""))
    engine = LocalEngine([plan], shared, max_parallel=1, grace_s=grace_s, on_change=lambda *_: None)
    watcher = asyncio.create_task(_watch(engine, stopper, driver))
    try:
        ends = await engine.run()
    finally:
        watcher.cancel()
    return ends.get(plan.id, CellEnd("interrupted"))


async def _watch(engine: LocalEngine, stopper: Any, driver: Driver) -> None:
    """Pass the driver's stops on to the cell, and stop it as SIGTERM would once the driver
    is gone (its pid, or the stopper that dies with it)."""
    watches = {asyncio.create_task(_relay(engine, stopper))}
    if driver.watchable():
        watches.add(asyncio.create_task(_orphaned(driver)))
    try:
        await asyncio.wait(watches, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in watches:
            task.cancel()
    engine.stop(signal.SIGTERM)


async def _relay(engine: LocalEngine, stopper: Any) -> None:
    """Each stop asked at the driver (Ctrl+C), until the stopper dies with the driver."""
    seen = 0
    while True:
        try:
            count = await stopper.count.remote()
        except ray.exceptions.RayError:
            return
        for _ in range(count - seen):
            engine.stop(signal.SIGINT)
        seen = count
        await asyncio.sleep(POLL_S)


async def _orphaned(driver: Driver) -> None:
    while driver.alive():
        await asyncio.sleep(WATCH_S)


@contextlib.contextmanager
def _signals(asked: list[int]) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        asked.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)


def run_ray(
    plans: list[CellPlan],
    base: Config,
    on_change: Listener,
    *,
    parallel: int,
    grace_s: float,
    address: str | None = None,
) -> tuple[dict[str, CellEnd], int | None]:
    """Run every cell as a Ray task, at most ``parallel`` at once, on the Ray at ``address``
    (None: a local one for this command); (ends, stop signal)."""
    parallel = min(parallel, base.concurrency)
    ray.init(
        address=address or "local",
        num_cpus=None if address else parallel,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    asked: list[int] = []
    ends: dict[str, CellEnd] = {}
    try:
        with _signals(asked):
            limits = share(base, parallel, len(plans))
            _loop(plans, limits, on_change, parallel, grace_s, asked, ends)
    finally:
        ray.shutdown()
    return ends, asked[0] if asked else None


def _loop(
    plans: list[CellPlan],
    limits: Config,
    on_change: Listener,
    parallel: int,
    grace_s: float,
    asked: list[int],
    ends: dict[str, CellEnd],
) -> None:
    task = ray.remote(max_retries=RETRIES, retry_exceptions=False, num_cpus=1)(run_cell)
    stopper = Stopper.remote()  # type: ignore[attr-defined]
    driver = Driver.this()
    todo = list(plans)
    pending: dict[Any, str] = {}
    stops = 0
    kill_at: float | None = None
    while todo or pending:
        while todo and len(pending) < parallel and not asked and not _failed(ends):
            plan = todo.pop(0)
            pending[task.remote(plan, limits, grace_s, stopper, driver)] = plan.id
            on_change(plan.id, "running", None)
        if not pending:
            break
        while stops < len(asked):
            stopper.stop.remote()
            stops += 1
            due = time.monotonic() + (grace_s if stops == 1 else 0.0) + KILL_S
            kill_at = min(kill_at or due, due)
        if kill_at is not None and time.monotonic() >= kill_at:
            for ref, cell_id in pending.items():  # as safe as the kill -9 a run survives
                ray.cancel(ref, force=True)
                ends[cell_id] = CellEnd("interrupted", UNRESPONSIVE)
                on_change(cell_id, "interrupted", ends[cell_id])
            break
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
        for ref in ready:
            cell_id = pending.pop(ref)
            try:
                end: CellEnd = ray.get(ref)
            except ray.exceptions.RayError as exc:
                end = CellEnd("bug", f"the Ray task failed: {exc}")
            ends[cell_id] = end
            on_change(cell_id, status_of(end), end)


def _failed(ends: dict[str, CellEnd]) -> bool:
    """A cell ended in a way that would stop the others too: start no further cell."""
    return any(end.kind not in CELL_ONLY for end in ends.values())
