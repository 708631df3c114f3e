"""sweep.json round-trips, and a rerun with a changed sweep file is refused naming the change
(runtime knobs may change)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from evoprompt.config import Config
from evoprompt.sweep.spec import read_sweep
from evoprompt.sweep.state import SweepError, merge, new_record, read_record, save_record


def record(tmp_path: Path, grid: str, **base: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.toml"
    path.write_text(f"[grid]\n{grid}\n")
    return new_record(read_sweep(path), "s1", replace(Config(), **base), "local", "resume")


def test_the_record_round_trips_and_keeps_cell_statuses(tmp_path: Path) -> None:
    first = record(tmp_path, "seed = [1, 2]").with_status("seed-1", "finished", 5.0)
    save_record(tmp_path, first)
    assert read_record(tmp_path) == first
    again = merge(first, record(tmp_path, "seed = [1, 2]", concurrency=2, max_generations=9))
    assert [c.status for c in again.cells] == ["finished", "pending"]
    assert again.runtime["concurrency"] == 2


def test_a_changed_grid_or_defining_setting_is_refused_naming_each(tmp_path: Path) -> None:
    first = record(tmp_path, "seed = [1, 2]")
    with pytest.raises(SweepError) as caught:
        merge(first, record(tmp_path, "seed = [1, 3]", dataset="code_vuln"))
    text = str(caught.value)
    assert "grid.seed (sweep: [1, 2], now: [1, 3])" in text
    assert "dataset (sweep: 'sentiment', now: 'code_vuln')" in text


def test_cells_edited_in_sweep_json_are_not_run(tmp_path: Path) -> None:
    """sweep.json is data: a cell given a python: metric (or any setting) there, or a cell
    added there, never runs; the cells are the sweep file's, with their recorded statuses."""
    first = record(tmp_path, "seed = [1, 2]").with_status("seed-1", "finished", 5.0)
    planted = replace(first.cells[1], params={"seed": 2, "metric": "python:/tmp/evil.py:f"})
    extra = replace(first.cells[1], id="seed-3", params={"seed": 3})
    edited = replace(first, cells=[first.cells[0], planted, extra])
    save_record(tmp_path, edited)
    again = merge(read_record(tmp_path), record(tmp_path, "seed = [1, 2]"))
    assert [(c.id, c.params, c.status) for c in again.cells] == [
        ("seed-1", {"seed": 1}, "finished"),
        ("seed-2", {"seed": 2}, "pending"),
    ]


def test_a_sweep_from_before_a_new_setting_resumes_while_it_stays_at_its_default(
    tmp_path: Path,
) -> None:
    """A sweep.json written by an older evoprompt lacks settings added since (shots, the
    operator's model...): it ran with their defaults, so only a value other than the default
    is a change."""
    first = record(tmp_path, "seed = [1, 2]").with_status("seed-1", "finished", 5.0)
    older = replace(first, defining={k: v for k, v in first.defining.items() if k != "shots"})
    again = merge(older, record(tmp_path, "seed = [1, 2]"))
    assert [c.status for c in again.cells] == ["finished", "pending"]
    with pytest.raises(SweepError, match=r"shots \(sweep: None, now: 4\)"):
        merge(older, record(tmp_path, "seed = [1, 2]", shots=4))
