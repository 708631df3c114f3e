"""Pruning inside the evaluator: a prompt stops being asked once it provably misses its bar,
its batch files hold only fully scored batches, and a later exact need finishes its scoring."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from evoprompt.checkpoint.schema import BatchRecord, PromptResult
from evoprompt.evaluation.evaluator import Score
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.metrics.base import Example, Judged, MeanMetric
from evoprompt.pruning.bars import Bar, Seats
from evoprompt.pruning.bound import Pruner, prunable
from tests.evaluation.test_evaluator import DEV, LABELS, PROMPTS, ScriptedScorer, evaluator

GUESS = PROMPTS[1]  # right on 3 of the 10 rows


def run(
    scorer: ScriptedScorer, bars: dict[str, Bar], done: dict[int, dict[str, Any]] | None = None
) -> tuple[dict[str, Score], dict[int, dict[str, Any]]]:
    saved: dict[int, dict[str, Any]] = {}

    async def save(batch_idx: int, rows: range, results: list[PromptResult]) -> None:
        saved[batch_idx] = json.loads(
            json.dumps(BatchRecord(0, batch_idx, (rows.start, rows.stop), results).to_json())
        )

    recovered = {b: BatchRecord.from_json(doc) for b, doc in (done or {}).items()}
    scores = asyncio.run(evaluator(scorer).evaluate(PROMPTS, recovered, save, bars))
    return scores, saved


def test_a_prompt_that_cannot_clear_its_bar_is_pruned_and_the_others_are_exact() -> None:
    full, _ = run(ScriptedScorer(), {})
    scorer = ScriptedScorer()
    scores, saved = run(scorer, {GUESS: Bar(0.5, ties=True)})
    assert scores[PROMPTS[0]] == full[PROMPTS[0]]
    guess = scores[GUESS]
    assert guess.pruned and full[GUESS].fitness <= guess.fitness < 0.5
    asked = sum(n for (prompt, _), n in scorer.calls.items() if prompt == GUESS)
    assert asked < len(DEV)
    # Every batch file is saved; the pruned prompt only in those it finished.
    assert sorted(saved) == [0, 1, 2]
    finished = [b for b, doc in saved.items() if GUESS in [p["text"] for p in doc["prompts"]]]
    assert finished == list(range(len(finished))) and len(finished) < 3


def test_a_bar_that_is_cleared_changes_nothing() -> None:
    full, _ = run(ScriptedScorer(), {})
    scores, _ = run(ScriptedScorer(), {GUESS: Bar(0.3, ties=True)})  # exactly reached
    assert scores == full


def test_a_pruned_prompt_later_needed_exactly_resumes_from_its_batch_files() -> None:
    full, _ = run(ScriptedScorer(), {})
    _, saved = run(ScriptedScorer(), {GUESS: Bar(0.5, ties=True)})
    scorer = ScriptedScorer()
    scores, _ = run(scorer, {}, done=saved)
    assert scores == full
    # The careful prompt's batches come from the files; the guess asks only what they lack.
    held = sum(
        len(range(*doc["rows"]))
        for doc in saved.values()
        if GUESS in [p["text"] for p in doc["prompts"]]
    )
    assert all(prompt == GUESS for prompt, _ in scorer.calls)
    assert sum(scorer.calls.values()) == len(DEV) - held


class Squared(MeanMetric):
    def judge(self, output: str, example: Example) -> Judged:
        return Judged(output, output, 1.0)

    def fitness(self, scores: Any) -> float:
        return sum(s * s for s in scores) / len(scores)


@pytest.mark.parametrize(("metric", "expected"), [(Accuracy(LABELS), True), (Squared(), False)])
def test_only_a_plain_mean_is_pruned(metric: Any, expected: bool) -> None:
    assert prunable(metric) is expected


def answer(pruner: Pruner, prompt: str, row: int, score: float) -> None:
    pruner.judged[prompt][row] = Judged("x", "x", score)
    pruner.answered(prompt, score)


@pytest.mark.parametrize(("sibling_first", "pruned"), [(True, {"b"}), (False, set())])
def test_a_sibling_that_finishes_raises_the_bar(sibling_first: bool, pruned: set[str]) -> None:
    """One seat: once "a" finishes at 0.75, "b" (bound 0.75 after one miss) is out only when
    "a" ranks ahead of it on the tie, i.e. was bred first."""
    pending = Judged("", "", 0.0)
    judged = {"a": [pending] * 4, "b": [pending] * 4}
    before = frozenset({"a"}) if sibling_first else frozenset()
    pruner = Pruner(Accuracy(LABELS), {"b": Seats(1, (), before)}, judged, pending)

    answer(pruner, "b", 0, 0.0)
    assert not pruner.pruned  # no rival yet: the seat is free
    for row, score in enumerate((1.0, 1.0, 0.0, 1.0)):
        answer(pruner, "a", row, score)
    assert pruner.finished == {"a": 0.75}
    answer(pruner, "b", 1, 1.0)
    assert pruner.pruned == pruned


def test_a_sibling_still_being_scored_raises_the_bar_with_the_score_it_has_earned() -> None:
    """One seat: "b" can reach 0.5 after two misses of four; "a" has earned 0.75 with a row
    still to come, so it surely ranks ahead and "b" is out before "a" finishes (and before
    "b" is asked another row). An earned score that only equals the bound does not count: a
    sibling must be surely fitter, or it could still tie."""
    pending = Judged("", "", 0.0)
    judged = {"a": [pending] * 4, "b": [pending] * 4}
    pruner = Pruner(Accuracy(LABELS), {"b": Seats(1, (), frozenset({"a"}))}, judged, pending)

    answer(pruner, "b", 0, 0.0)
    answer(pruner, "b", 1, 0.0)
    answer(pruner, "a", 0, 1.0)
    answer(pruner, "a", 1, 1.0)
    assert not pruner.pruned  # "a" has earned 0.5: it could end level with "b"
    answer(pruner, "a", 2, 1.0)
    assert pruner.pruned == {"b"} and "a" not in pruner.finished
