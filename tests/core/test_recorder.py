"""The recorder's batch saves: every batch file is written, and when batches finish together
(children scored hardest rows first all finish at the phase's end) latest.json is rewritten
once, by the newest, rather than once per batch."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from evoprompt.checkpoint.atomic import read_checked_json
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.schema import BatchRecord, Descriptor
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore, Position
from evoprompt.core.recorder import Recorder


class CountingStore(CheckpointStore):
    """The real store on real files, counting latest.json rewrites."""

    def __init__(self, exp_dir: Path):
        super().__init__(exp_dir)
        self.cursor_saves = 0

    def save_cursor(self, position: Position) -> Descriptor:
        self.cursor_saves += 1
        return super().save_cursor(position)


def recorder(tmp_path: Path) -> tuple[Recorder, CountingStore]:
    (tmp_path / "checkpoints").mkdir()
    store = CountingStore(tmp_path)
    state = ExperimentState.new("exp", seed=1)
    state.generation = 0
    rec = Recorder(store, state, tmp_path, stats=dict, cleanup_every=5, keep_last_n=3)
    rec.phase_started(1)
    return rec, store


def test_batches_finishing_together_write_every_file_and_latest_once(tmp_path: Path) -> None:
    rec, store = recorder(tmp_path)
    records = [BatchRecord(1, b, (4 * b, 4 * b + 4), []) for b in range(6)]

    async def together() -> None:
        # The writer is held until all six are queued, as when they finish in one loop turn
        # while it is still busy with an earlier save.
        gate = threading.Event()
        rec._io.submit(gate.wait)
        saves = asyncio.gather(*(rec.batch_done(r) for r in records))
        await asyncio.sleep(0.05)
        gate.set()
        await saves

    asyncio.run(together())
    layout = Layout(tmp_path)
    assert all(layout.batch(1, b).exists() for b in range(6))
    assert store.cursor_saves == 1
    latest = Descriptor.from_json(read_checked_json(layout.latest))
    assert latest.metadata["stage"] == "generation_1_batch_5"


def test_batches_finishing_one_by_one_each_move_latest(tmp_path: Path) -> None:
    rec, store = recorder(tmp_path)

    async def one_by_one() -> None:
        for b in range(3):
            await rec.batch_done(BatchRecord(1, b, (4 * b, 4 * b + 4), []))

    asyncio.run(one_by_one())
    assert store.cursor_saves == 3
