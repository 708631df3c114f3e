"""aggregate.csv from cells' summaries: statistics across seeds, with and without the held-out
test section (read through the sweep's own reader of the documented contract)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evoprompt.checkpoint.schema.sweep import CellRecord, SweepRecord
from evoprompt.sweep.aggregate import t_interval, write_aggregate


def summary(dev: float, test: float | None, delta: float | None, status: str = "finished"):  # type: ignore[no-untyped-def]
    doc: dict[str, Any] = {
        "experiment_id": "x",
        "status": status,
        "best_prompt": "p",
        "best_fitness": dev,
        "generations": [
            {
                "generation": g,
                "best_fitness": dev,
                "mean_fitness": dev,
                "best_prompt": "p",
                "evaluated": 4,
                "duration_s": 1.5,
            }
            for g in range(3)
        ],
        "population": [],
        "api_stats": {"calls": 10, "prompt_tokens": 100, "completion_tokens": 7, "cost_usd": 0.25},
    }
    if test is not None:
        doc["test"] = {
            "size": 40,
            "source": "dataset",
            "results": [
                {
                    "role": "seed",
                    "prompt": "s",
                    "dev_fitness": 0.5,
                    "test_fitness": 0.4,
                    "ci_low": 0.3,
                    "ci_high": 0.5,
                },
                {
                    "role": "best",
                    "prompt": "p",
                    "dev_fitness": dev,
                    "test_fitness": test,
                    "ci_low": test - 0.1,
                    "ci_high": test + 0.1,
                },
            ],
            "comparison": {
                "baseline_prompt": "s",
                "delta": delta,
                "ci_low": 0.0,
                "ci_high": 0.2,
                "p_value": 0.04,
                "method": "mcnemar",
            },
        }
    return doc


def make(tmp_path: Path, docs: dict[str, dict[str, Any] | None]) -> SweepRecord:
    cells = []
    for cell_id, doc in docs.items():
        algorithm, seed = cell_id.split("_")
        cells.append(CellRecord(cell_id, {"algorithm": algorithm[10:], "seed": int(seed[5:])}))
        if doc is not None:
            (tmp_path / cell_id).mkdir()
            (tmp_path / cell_id / "summary.json").write_text(json.dumps(doc))
    return SweepRecord("s", "s.toml", {"algorithm": ["ga", "de"], "seed": [1, 2, 3]}, {}, {}, cells)


def test_rows_hold_mean_std_and_t_intervals_over_finished_seeds(tmp_path: Path) -> None:
    record = make(
        tmp_path,
        {
            "algorithm-ga_seed-1": summary(0.5, 0.45, 0.05),
            "algorithm-ga_seed-2": summary(0.7, 0.60, 0.10),
            "algorithm-ga_seed-3": summary(0.9, 0.80, 0.30),
            "algorithm-de_seed-1": summary(0.6, None, None),
            "algorithm-de_seed-2": summary(0.8, None, None, status="running"),
            "algorithm-de_seed-3": None,
        },
    )
    write_aggregate(record, tmp_path)
    frame = pd.read_csv(tmp_path / "aggregate.csv")
    ga, de = frame.iloc[0], frame.iloc[1]
    assert list(frame["algorithm"]) == ["ga", "de"]
    assert ga["n"] == 3 and de["n"] == 1
    assert ga["dev_mean"] == pytest.approx(0.7)
    assert ga["dev_std"] == pytest.approx(0.2)
    test = [0.45, 0.60, 0.80]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(test), scale=stats.sem(test))
    assert (ga["test_ci_low"], ga["test_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    # by hand: mean 0.15, sd 0.1323, t(0.975, 2) = 4.3027 -> 0.15 +- 0.3287
    assert ga["gain_mean"] == pytest.approx(0.15)
    assert ga["gain_ci_low"] == pytest.approx(0.15 - 4.302653 * 0.132288 / 3**0.5, abs=1e-5)
    assert (ga["calls"], ga["tokens"], ga["cost_usd"], ga["wall_s"]) == (30, 321, 0.75, 13.5)
    # de: one finished cell without a test phase: no spread, no test figures
    assert de["dev_mean"] == pytest.approx(0.6)
    assert de[["dev_std", "test_mean", "test_ci_low", "gain_mean"]].isna().all()


def test_t_interval_edge_cases() -> None:
    assert t_interval([]) == (None, None)
    assert t_interval([0.5]) == (None, None)
    assert t_interval([0.5, 0.5]) == (0.5, 0.5)


def test_a_cell_whose_summary_cannot_be_read_is_named_not_dropped(tmp_path: Path) -> None:
    record = make(
        tmp_path,
        {
            "algorithm-ga_seed-1": summary(0.5, 0.45, 0.05),
            "algorithm-ga_seed-2": summary(0.7, 0.60, 0.10),
            "algorithm-ga_seed-3": summary(0.9, 0.80, 0.30),
            "algorithm-de_seed-1": summary(0.6, None, None),
            "algorithm-de_seed-2": None,
            "algorithm-de_seed-3": None,
        },
    )
    path = tmp_path / "algorithm-ga_seed-2" / "summary.json"
    path.write_bytes(path.read_bytes()[:60])  # truncated mid-write by a dead disk, say
    (tmp_path / "algorithm-de_seed-3").mkdir()
    (tmp_path / "algorithm-de_seed-3" / "summary.json").write_text('{"status": 7}')
    write_aggregate(record, tmp_path)
    frame = pd.read_csv(tmp_path / "aggregate.csv")
    ga, de = frame.iloc[0], frame.iloc[1]
    assert ga["unreadable"] == "algorithm-ga_seed-2" and ga["n"] == 2
    assert ga["dev_mean"] == pytest.approx(0.7)  # seeds 1 and 3
    assert de["unreadable"] == "algorithm-de_seed-3" and de["n"] == 1  # not-yet-run: not named


def test_wall_time_is_the_summaries_total_over_sessions(tmp_path: Path) -> None:
    doc = summary(0.5, None, None)
    doc["wall_s"] = 20.0  # killed and resumed: more than its generations' durations (4.5 s)
    record = make(
        tmp_path, {"algorithm-ga_seed-1": doc, "algorithm-ga_seed-2": summary(0.7, None, None)}
    )
    frame = write_aggregate(record, tmp_path)
    assert frame.iloc[0]["wall_s"] == pytest.approx(24.5)  # an older summary: its generations


def test_rows_give_calls_tokens_and_cost_per_role(tmp_path: Path) -> None:
    docs: dict[str, dict[str, Any] | None] = {}
    for seed in (1, 2):
        doc = summary(0.5, None, None)
        doc["api_stats"]["roles"] = {
            "task": {"calls": 8, "prompt_tokens": 80, "completion_tokens": 4, "cost_usd": 0.05},
            "operator": {"calls": 2, "prompt_tokens": 20, "completion_tokens": 3, "cost_usd": 0.2},
        }
        docs[f"algorithm-ga_seed-{seed}"] = doc
    docs["algorithm-de_seed-1"] = summary(0.6, None, None)  # written before roles: no split
    write_aggregate(make(tmp_path, docs), tmp_path)
    frame = pd.read_csv(tmp_path / "aggregate.csv")
    ga, de = frame.iloc[0], frame.iloc[1]
    assert (ga["task_calls"], ga["task_tokens"], ga["task_cost_usd"]) == (16, 168, 0.1)
    assert (ga["operator_calls"], ga["operator_tokens"]) == (4, 46)
    assert ga["operator_cost_usd"] == pytest.approx(0.4)
    assert de[["task_calls", "operator_calls", "operator_cost_usd"]].isna().all()
