"""The one schema of everything on disk: round trips, validation that names the field, and the
single stage -> status mapping."""

from __future__ import annotations

from typing import Any

import pytest

from evoprompt.checkpoint.schema import (
    BUDGET_EXHAUSTED,
    ERROR,
    FINISHED,
    INTERRUPTED,
    BatchRecord,
    Descriptor,
    GenerationRow,
    PopulationRow,
    PromptResult,
    RecoveryEntry,
    SchemaError,
    Stage,
    Summary,
)

DESCRIPTOR = Descriptor(
    seq=7,
    timestamp=1700000000.5,
    generation=3,
    batch_idx=2,
    metadata={"stage": "generation_3_batch_1", "completed_generation": 2},
    experiment_id="exp",
    num_individuals=6,
    best_fitness=0.75,
    state_seq=5,
    state_sha256="ab" * 32,
)
RESULT = PromptResult(
    "Classify it.", ["pos", "It is neg"], ["pos", "neg"], ["pos", "pos"], [1.0, 0.0], {"a": 1}
)
ROW = GenerationRow(1, 0.75, 0.5, "Classify it.", 3, 1.25)
POP = PopulationRow("Classify it.", 0.75, 1, ("a", "b"), "ga", {"accuracy": 0.75})


@pytest.mark.parametrize(
    "record",
    [
        DESCRIPTOR,
        BatchRecord(1, 0, (0, 2), [RESULT]),
        RESULT,
        ROW,
        POP,
        Summary("exp", "finished", "Classify it.", 0.75, [ROW], [POP], {"calls": 3}),
        RecoveryEntry(1.5, "latest.json", "state.pkl", 2, (3, 1), ["note"]),
    ],
)
def test_every_record_round_trips_through_json(record: Any) -> None:
    again = type(record).from_json(record.to_json())
    if isinstance(record, Summary):  # the summary keeps only text and fitness per prompt
        assert again.population == [PopulationRow("Classify it.", 0.75)]
        record = Summary(**{**record.__dict__, "population": again.population})
    assert again == record


def test_descriptor_json_keeps_the_spec_field_names() -> None:
    doc = DESCRIPTOR.to_json()
    for key in ("seq", "timestamp", "generation", "batch_idx", "num_individuals", "best_fitness"):
        assert key in doc
    assert doc["metadata"]["stage"] == "generation_3_batch_1"
    assert doc["state_sha256"] == "ab" * 32
    first = Descriptor(1, 0.0, 0, 0, {"stage": "generation_0_batch_0"})
    assert "state_sha256" not in first.to_json()  # nothing to describe before a state save


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seq": "7"}, "field 'seq' is missing or not a number"),
        ({"generation": True}, "field 'generation' is missing or not a number"),
        ({"metadata": {}}, "field 'metadata.stage' is missing"),
        ({"metadata": None}, "field 'metadata' is missing or not an object"),
        ({"best_fitness": "high"}, "field 'best_fitness' is missing or not a number"),
    ],
)
def test_a_bad_descriptor_names_its_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Descriptor.from_json({**DESCRIPTOR.to_json(), **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scores": [1.0]}, "differ in length"),
        ({"ground_truths": ["pos"]}, "predictions and ground truths differ in length"),
        ({"scores": [1.0, 1.5]}, "outside \\[0, 1\\]"),
        ({"scores": [1.0, "x"]}, "not a number"),
        ({"text": None}, "has no text"),
    ],
)
def test_a_bad_prompt_entry_names_what_is_wrong(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        PromptResult.from_json({**RESULT.to_json(), **change})


def test_a_batch_needs_a_row_pair() -> None:
    doc = BatchRecord(1, 0, (0, 2), [RESULT]).to_json()
    with pytest.raises(SchemaError, match="rows"):
        BatchRecord.from_json({**doc, "rows": [0]})
    with pytest.raises(SchemaError, match="not a JSON object"):
        BatchRecord.from_json(["not", "an", "object"])


def test_one_stage_to_status_mapping() -> None:
    assert Stage.batch(3, 1).text == "generation_3_batch_1"
    assert Stage.complete(3).text == "generation_3_complete"
    assert Stage.batch(3, 1).in_progress and Stage.complete(3).in_progress
    assert Stage.batch(3, 1).status == "running"
    assert [s.status for s in (FINISHED, INTERRUPTED, BUDGET_EXHAUSTED, ERROR)] == [
        "finished",
        "interrupted",
        "interrupted",  # a budget stop resumes with a larger budget, like an interrupt
        "error",
    ]
    assert Stage("something else").status == "error"


def test_history_descriptors_are_named_after_the_completed_generation() -> None:
    assert DESCRIPTOR.history_of == 2  # the runner records what it completed
    manager = Descriptor(1, 0.0, 4, 0, {"stage": "custom"})
    assert manager.history_of == 4  # the programmatic API names it after its generation
