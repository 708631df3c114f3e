"""The held-out records on disk: summary.json's test section, test stages, state.pkl."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.safe_pickle import safe_loads
from evoprompt.checkpoint.schema import (
    Comparison,
    SchemaError,
    Stage,
    Summary,
    TestReport,
    TestResult,
)
from evoprompt.checkpoint.state import ExperimentState

REPORT = TestReport(
    size=3,
    source="sentiment",
    results=[
        TestResult("best", "p", 0.9, 0.66, 0.2, 0.94),
        TestResult("seed", "s", 0.5, 0.33, 0.06, 0.79),
    ],
    comparison=Comparison("s", 0.33, -0.33, 1.0, 1.0, "mcnemar-exact"),
    generation=0,
    majority={"label": "pos", "test_fitness": 0.66},
    per_class={"pos": {"n": 2, "test_fitness": 1.0}},
)


def test_summary_round_trips_the_test_section_and_its_history() -> None:
    doc = Summary("x", "finished", "p", 0.9, [], [], {}, test=REPORT, test_history=[REPORT])
    raw = doc.to_json()
    assert set(raw["test"]) >= {"size", "source", "results", "comparison"}
    assert set(raw["test"]["results"][0]) == {
        "role", "prompt", "dev_fitness", "test_fitness", "ci_low", "ci_high"
    }  # fmt: skip
    assert set(raw["test"]["comparison"]) == {
        "baseline_prompt", "delta", "ci_low", "ci_high", "p_value", "method"
    }  # fmt: skip
    assert raw["test"]["generation"] == 0  # not mistaken for a missing value
    assert Summary.from_json(raw) == doc
    older = {k: v for k, v in raw.items() if k not in ("test", "test_history")}
    assert Summary.from_json(older).test is None  # a summary written before held-out tests
    raw["test"]["results"][0]["role"] = "winner"
    with pytest.raises(SchemaError, match="role"):
        Summary.from_json(raw)


def test_test_stages_are_in_progress_and_test_batches_have_their_own_names(
    tmp_path: Path,
) -> None:
    assert Stage.test_batch(2, 3).text == "test_2_batch_3"
    assert Stage.test_batch(2, 3).status == Stage.test_complete(2).status == "running"
    layout = Layout(tmp_path)
    assert layout.test_batch(2, 3).name == "test2_batch3.json"
    layout.batches.mkdir(parents=True)
    for name in ("test2_batch3.json", "gen1_batch0.json"):
        (layout.batches / name).write_text("{}")
    assert [(k, b) for k, b, _ in layout.batch_files(test=True)] == [(2, 3)]
    assert [(g, b) for g, b, _ in layout.batch_files()] == [(1, 0)]


def test_state_with_test_reports_loads_through_the_allow_list() -> None:
    state = ExperimentState.new("x", 1)
    state.tests.append(REPORT)
    assert safe_loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)) == state
    old = ExperimentState.new("x", 1)
    del old.__dict__["tests"]  # what a state.pkl from before held-out tests holds
    loaded = safe_loads(pickle.dumps(old, protocol=pickle.HIGHEST_PROTOCOL))
    assert loaded.tests == [] and loaded.experiment_id == "x"
