"""The order of a generation's saves: no kill can leave a completed generation without its
history copy, and verify notices one that is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint import store as store_module
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.schema import Stage
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore, Position
from evoprompt.report.verify import check_files


class Killed(BaseException):
    pass


def position(generation: int) -> Position:
    stage = Stage.complete(generation).text
    return Position(generation + 1, 0, {"stage": stage, "completed_generation": generation})


def saved(tmp_path: Path, generations: int) -> tuple[CheckpointStore, ExperimentState]:
    store = CheckpointStore(tmp_path)
    state = ExperimentState.new("exp", 7)
    for generation in range(generations):
        state.generation = generation
        store.save_state(state, position(generation))
    return store, state


def test_a_kill_right_after_the_complete_save_keeps_the_history_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, state = saved(tmp_path, 1)
    real = store_module.write_checked_json

    def write_then_die(path: Path, doc: dict[str, Any]) -> None:
        real(path, doc)
        if path.name == "latest.json":
            raise Killed  # the process dies just after latest.json says generation 1 is done

    monkeypatch.setattr(store_module, "write_checked_json", write_then_die)
    state.generation = 1
    with pytest.raises(Killed):
        store.save_state(state, position(1))
    assert Layout(tmp_path).history(1).exists()


def test_verify_notices_a_missing_history_copy(tmp_path: Path) -> None:
    saved(tmp_path, 3)
    layout = Layout(tmp_path)
    layout.history(1).unlink()
    problems = {c.name: c.problem for c in check_files(tmp_path) if not c.ok}
    assert problems["checkpoints/gen1_batch0.json"] == "missing"
    assert "checkpoints/gen0_batch0.json" not in problems
    layout.history(2).unlink()
    problems = {c.name: c.problem for c in check_files(tmp_path) if not c.ok}
    assert {"checkpoints/gen1_batch0.json", "checkpoints/gen2_batch0.json"} <= set(problems)
