"""What the engine's events leave on disk: batch files, checkpoints, results, in event order.

The engine announces events (a batch scored, a generation finished, the run stopped) and this
recorder turns each into files on one writer thread: ordered, and off the event loop. It owns
the cursor that every save describes, so the loop reads as the algorithm and nothing else.
When batches finish together (children scored hardest rows first all finish at the phase's
end), each batch file is written but only the newest queued one rewrites latest.json: the
others would describe a moment already past, at two fsynced writes each.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from evoprompt.checkpoint.schema import BatchRecord, Descriptor, Stage, Summary
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore, Position
from evoprompt.core.result import write_results

T = TypeVar("T")
Stats = Callable[[], dict[str, Any]]


def earlier_wall_s(cursor: Descriptor | None, state: ExperimentState) -> float:
    """Seconds the experiment's earlier sessions ran. Every save records the running total in
    its checkpoint's metadata, so a kill -9 loses only the time since the last save; a
    checkpoint without it (older, or written by fork or rollback) counts its generations."""
    value = cursor.metadata.get("wall_s") if cursor is not None else None
    wall = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else -1
    if math.isfinite(wall) and wall >= 0:
        return wall
    return sum(g.duration_s for g in state.generations)


def _wall(position: Position) -> float:
    return float(position.metadata["wall_s"])


@dataclass
class Cursor:
    """Where the run is: the generation under way and how many of its batches are saved."""

    generation: int = 0
    batches_done: int = 0


class Recorder:
    def __init__(
        self,
        store: CheckpointStore,
        state: ExperimentState,
        exp_dir: Path,
        *,
        stats: Stats,
        cleanup_every: int,
        keep_last_n: int,
        on_saved: Callable[[], None] = lambda: None,
    ):
        self.store = store
        self.state = state
        self.exp_dir = exp_dir
        self.stats = stats  # api_stats, read from the journal
        self.cleanup_every = cleanup_every
        self.keep_last_n = keep_last_n
        self.on_saved = on_saved  # after each results write (the tracker syncs from those)
        self.cursor = Cursor(state.generation + 1, 0)
        self._wall_before = earlier_wall_s(store.read_cursor()[0], state)
        self._started = time.monotonic()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._batches_queued = 0  # batch saves handed to the writer, numbered from 1
        # A test phase run on demand (``main.py test``) records the experiment's own stop in
        # every save, its batches and its stop included: killed or stopped at any point, the
        # experiment stays as it was (finished) and the same command goes on from the journal.
        self.kept: Stage | None = None

    # -- events --------------------------------------------------------------------------

    def phase_started(self, generation: int, batches_done: int = 0) -> None:
        self.cursor = Cursor(generation, batches_done)

    async def batch_done(self, record: BatchRecord) -> None:
        self.cursor.batches_done += 1
        position = self._position(Stage.batch(record.generation, record.batch_idx))
        await self._queue_batch(record, position, test=False)

    async def generation_done(self, generation: int) -> None:
        self.cursor = Cursor(generation + 1, 0)
        position = self._position(Stage.complete(generation))
        await self._io_call(self._save_generation, generation, position, self.stats())

    def test_started(self, batches_done: int = 0) -> None:
        """A test phase of the finalists of the last completed generation begins."""
        self.cursor = Cursor(self.state.generation, batches_done)

    async def test_batch_done(self, record: BatchRecord) -> None:
        """A batch of test phase ``record.generation`` is scored."""
        self.cursor.batches_done += 1
        position = self._position(Stage.test_batch(record.generation, record.batch_idx))
        await self._queue_batch(record, position, test=True)

    async def test_done(self, phase: int) -> None:
        """The state now holds the phase's report: save it (no new history copy)."""
        self.cursor = Cursor(self.state.generation + 1, 0)
        position = self._position(Stage.test_complete(phase))
        await self._io_call(self._save_tested, position, self.stats())

    async def stopped(self, stage: Stage) -> Summary:
        if stage.text == "finished":  # nothing is under way: the cursor is the last generation
            self.cursor = Cursor(self.state.generation, 0)
        return await self._io_call(self._save_stop, self._position(stage), self.stats())

    def stopped_now(self, stage: Stage) -> Summary:
        """The stop save for exception paths, once the event loop is gone."""
        self._io.shutdown(wait=True)
        return self._save_stop(self._position(stage), self.stats())

    # -- saves (on the writer thread) ------------------------------------------------------

    def _position(self, stage: Stage) -> Position:
        best = self.state.best()
        return Position(
            generation=self.cursor.generation,
            batch_idx=self.cursor.batches_done,
            metadata={
                "stage": (self.kept or stage).text,
                "completed_generation": self.state.generation,
                "wall_s": round(self._wall_before + time.monotonic() - self._started, 3),
            },
            experiment_id=self.state.experiment_id,
            num_individuals=len(self.state.population),
            best_fitness=best.fitness if best else None,
        )

    async def _queue_batch(self, record: BatchRecord, position: Position, *, test: bool) -> None:
        self._batches_queued += 1
        await self._io_call(self._save_batch, record, position, self._batches_queued, test)

    def _save_batch(self, record: BatchRecord, position: Position, number: int, test: bool) -> None:
        self.store.save_batch(record, test=test)
        if number == self._batches_queued:  # else a later batch's save, queued, writes latest
            self.store.save_cursor(position)

    def _save_generation(self, generation: int, position: Position, stats: dict[str, Any]) -> None:
        self.store.save_state(self.state, position, snapshot=True)
        write_results(self.exp_dir, self.state, "running", stats, _wall(position))
        if generation and generation % self.cleanup_every == 0:
            self.store.cleanup(generation, self.keep_last_n)
        self.on_saved()

    def _save_tested(self, position: Position, stats: dict[str, Any]) -> None:
        self.store.save_state(self.state, position, history=False)
        write_results(self.exp_dir, self.state, "running", stats, _wall(position))
        self.on_saved()

    def _save_stop(self, position: Position, stats: dict[str, Any]) -> Summary:
        """Record why the run stopped (finished, interrupted, error) in latest and summary."""
        self.store.save_cursor(position)
        stage = Stage(str(position.metadata["stage"]))
        summary = write_results(self.exp_dir, self.state, stage.status, stats, _wall(position))
        self.on_saved()
        return summary

    async def _io_call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)
