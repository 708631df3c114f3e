"""Per-generation state snapshots: kept by a link, read back exactly, pruned with history."""

from __future__ import annotations

from pathlib import Path

from evoprompt.branching.snapshot import spans
from evoprompt.checkpoint.store import CheckpointStore, Position, decode_state


def _save(store: CheckpointStore, generation: int) -> None:
    position = Position(generation + 1, 0, {"stage": "x", "completed_generation": generation})
    store.save_state({"generation": generation}, position, snapshot=True)


def test_each_generation_keeps_its_own_state_and_cleanup_prunes_them(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for generation in range(5):
        _save(store, generation)
    layout = store.layout
    assert [g for g, _ in layout.snapshot_files()] == [0, 1, 2, 3, 4]
    assert all(store.load_snapshot(g) == {"generation": g} for g in range(5))
    assert layout.snapshot(4).stat().st_ino == layout.state.stat().st_ino  # a link, no copy
    assert decode_state(layout.state)[1] == {"generation": 4}
    store.cleanup(4, keep_last_n=2)
    assert [g for g, _ in layout.snapshot_files()] == [3, 4]


def test_spans_names_runs_of_generations() -> None:
    assert spans([5, 0, 1, 2, 7, 8]) == "0-2, 5, 7-8"
    assert spans([]) == "none"
