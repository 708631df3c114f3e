"""The batch evaluator on its own: batch documents, and merging recovered batches on resume."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any, cast

import pytest

from evoprompt.checkpoint.schema import BatchRecord, PromptResult, RowTally
from evoprompt.data.loader import Dataset
from evoprompt.evaluation.evaluator import Evaluator, Score
from evoprompt.llm.client import LLMClient
from evoprompt.metrics.accuracy import Accuracy

LABELS = ("neg", "pos")
DEV = Dataset(
    tuple(f"review {i}" for i in range(10)),
    tuple(LABELS[i % 3 == 0] for i in range(10)),
    "dev",
)
PROMPTS = ["Be careful.", "Guess."]


class ScriptedScorer:
    """Answers without a model: the careful prompt is mostly right, the other often unsure."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.forgotten: list[str] = []

    async def answer(self, client: LLMClient, instruction: str, text: str) -> str:
        self.calls[instruction, text] += 1
        i = DEV.texts.index(text)
        if instruction == PROMPTS[0]:
            return f"It is {DEV.gold[i]}." if i % 4 else "pos"
        return "no idea" if i % 2 else "Neg!"

    def forget(self, instruction: str) -> None:
        self.forgotten.append(instruction)


def evaluator(scorer: ScriptedScorer) -> Evaluator:
    client = cast(LLMClient, None)  # the scripted scorer never calls the client
    return Evaluator(client, scorer, Accuracy(LABELS), DEV, batch_size=4, concurrency=3)


def run(
    scorer: ScriptedScorer, done: dict[int, dict[str, Any]]
) -> tuple[dict[str, Score], dict[int, dict[str, Any]]]:
    """Evaluate with ``done`` recovered; return the scores and each saved batch as JSON."""
    saved: dict[int, dict[str, Any]] = {}

    async def save(batch_idx: int, rows: range, results: list[PromptResult]) -> None:
        assert batch_idx not in saved
        record = BatchRecord(0, batch_idx, (rows.start, rows.stop), results)
        saved[batch_idx] = json.loads(json.dumps(record.to_json()))  # what a batch file holds

    recovered = {b: BatchRecord.from_json(doc) for b, doc in done.items()}
    return asyncio.run(evaluator(scorer).evaluate(PROMPTS, recovered, save)), saved


def test_a_full_run_saves_every_batch_with_outputs_and_scores() -> None:
    scorer = ScriptedScorer()
    scores, saved = run(scorer, {})
    assert sorted(saved) == [0, 1, 2]
    assert sum(scorer.calls.values()) == len(DEV) * len(PROMPTS)
    assert scorer.forgotten == PROMPTS
    doc = saved[1]
    assert doc["batch_idx"] == 1 and doc["rows"] == [4, 8]
    careful = doc["prompts"][0]
    assert list(careful) == [
        "text",
        "outputs",
        "predictions",
        "ground_truths",
        "scores",
        "analysis",
    ]
    assert careful["text"] == PROMPTS[0]
    assert careful["outputs"] == ["pos", "It is neg.", "It is pos.", "It is neg."]
    assert careful["predictions"] == ["pos", "neg", "pos", "neg"]
    assert careful["ground_truths"] == ["neg", "neg", "pos", "neg"]
    assert careful["scores"] == [0.0, 1.0, 1.0, 1.0]
    assert careful["analysis"] == {
        "accuracy": 0.75,
        "error_patterns": {"neg -> pos": 1},
        "invalid": 0,
        "mostly_invalid": False,
    }
    guess = scores[PROMPTS[1]]
    assert guess.fitness == pytest.approx(3 / 10)  # "Neg!" on even rows, right on rows 2, 4, 8
    assert guess.analysis == {
        "accuracy": guess.fitness,
        "error_patterns": {"neg -> invalid": 3, "pos -> invalid": 2, "pos -> neg": 2},
        "invalid": 5,
        "mostly_invalid": False,
    }


@pytest.mark.parametrize("recovered", [{0}, {1}, {0, 2}, {0, 1, 2}])
def test_recovered_batches_merge_into_the_same_scores_without_calls(recovered: set[int]) -> None:
    full, saved = run(ScriptedScorer(), {})
    scorer = ScriptedScorer()
    resumed, saved_again = run(scorer, {b: saved[b] for b in recovered})
    assert resumed == full
    assert sorted(saved_again) == sorted(set(saved) - recovered)
    assert all(saved_again[b] == saved[b] for b in saved_again)
    rows = [range(4 * b, min(4 * b + 4, len(DEV))) for b in recovered]
    asked = {DEV.texts.index(text) for _, text in scorer.calls}
    assert not asked & {i for r in rows for i in r}  # recovered rows were not asked again
    assert sum(scorer.calls.values()) == sum(
        len(PROMPTS) * (min(4 * b + 4, len(DEV)) - 4 * b) for b in range(3) if b not in recovered
    )


def test_requests_needed_skips_recovered_batches() -> None:
    ev = evaluator(ScriptedScorer())
    assert ev.batches() == [range(0, 4), range(4, 8), range(8, 10)]
    assert ev.requests_needed(PROMPTS, {}) == 20
    _, saved = run(ScriptedScorer(), {})
    batch1 = BatchRecord.from_json(saved[1])
    assert ev.requests_needed(PROMPTS, {1: batch1}) == 12
    # A file without a prompt (pruned before the batch was done) leaves its rows to ask.
    pruned = BatchRecord(0, 1, (4, 8), batch1.prompts[:1])
    assert ev.requests_needed(PROMPTS, {1: pruned}) == 16


def test_a_row_tally_for_another_dev_set_is_refused() -> None:
    async def nothing(*_: object) -> None:
        pass

    ev = evaluator(ScriptedScorer())
    wrong = RowTally.empty([e.text for e in ev.examples] + ["one more"])
    with pytest.raises(ValueError, match="one entry per dev row"):
        asyncio.run(ev.evaluate(PROMPTS, {}, nothing, tally=wrong))
