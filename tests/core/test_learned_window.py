"""A resume reopens the concurrency the last run learned, read from its summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evoprompt.runner.experiment import learned_window


def summary(folder: Path, api_stats: object) -> Path:
    path = folder / "summary.json"
    doc = {"experiment_id": "e", "status": "interrupted", "generation": 1, "api_stats": api_stats}
    path.write_text(json.dumps(doc))
    return path


def test_the_saved_limit_is_read(tmp_path: Path) -> None:
    stats = {"concurrency": {"limit": 6, "peak": 9, "maximum": 16}}
    assert learned_window(summary(tmp_path, stats)) == 6


@pytest.mark.parametrize(
    "api_stats",
    [{}, {"concurrency": {"limit": "8"}}, {"concurrency": {"limit": -3}}, {"concurrency": 4}],
)
def test_nothing_usable_means_a_fresh_ramp(tmp_path: Path, api_stats: object) -> None:
    assert learned_window(summary(tmp_path, api_stats)) == 0


def test_a_missing_or_broken_summary_means_a_fresh_ramp(tmp_path: Path) -> None:
    assert learned_window(tmp_path / "summary.json") == 0
    (tmp_path / "summary.json").write_text("{not json")
    assert learned_window(tmp_path / "summary.json") == 0
