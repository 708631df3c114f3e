"""Prompts that join an evaluation while others are scored (children as their operator replies
arrive): the same scores and batch files as a fixed list, batches saved only once no more can
join, and a prompt pruned against a bar that later falls is scored in full after all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any, cast

from evoprompt.checkpoint.schema import BatchRecord, PromptResult
from evoprompt.evaluation.evaluator import Evaluator, Score
from evoprompt.evaluation.phase import Arrival, BarsMoved, Joined
from evoprompt.llm.client import LLMClient
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.pruning.bars import AnyOf, Bar, Hurdle
from tests.evaluation.test_evaluator import DEV, LABELS, PROMPTS, ScriptedScorer

CAREFUL, GUESS = PROMPTS  # GUESS is right on 3 of the 10 rows (rows 2, 4 and 8)


class Counted:
    """The evaluator's progress, and an event once ``target`` pairs are counted done."""

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.reached = asyncio.Event()

    def __call__(self, n: int) -> None:
        self.count += n
        if self.count >= self.target:
            self.reached.set()


class Pausing(ScriptedScorer):
    """Lets the event loop run between answers, as a real call does."""

    async def answer(self, client: LLMClient, instruction: str, text: str) -> str:
        await asyncio.sleep(0)
        return await super().answer(client, instruction, text)


def evaluate(
    scorer: ScriptedScorer,
    prompts: list[str] | Any,
    progress: Counted,
    bars: dict[str, Hurdle] | None = None,
    done: dict[int, BatchRecord] | None = None,
) -> tuple[dict[str, Score], dict[int, dict[str, Any]]]:
    saved: dict[int, dict[str, Any]] = {}

    async def save(batch_idx: int, rows: range, results: list[PromptResult]) -> None:
        assert batch_idx not in saved
        doc = BatchRecord(0, batch_idx, (rows.start, rows.stop), results).to_json()
        saved[batch_idx] = json.loads(json.dumps(doc))

    client = cast(LLMClient, None)  # the scripted scorer never calls the client
    evaluator = Evaluator(
        client, scorer, Accuracy(LABELS), DEV, batch_size=4, concurrency=1, progress=progress
    )
    return asyncio.run(evaluator.evaluate(prompts, done or {}, save, bars)), saved


def test_a_prompt_joining_later_is_scored_as_in_a_fixed_list_and_batches_wait_for_it() -> None:
    fixed, fixed_saved = evaluate(ScriptedScorer(), PROMPTS, Counted(0))
    progress = Counted(len(DEV.texts))
    joined: list[str] = []

    async def brood() -> AsyncGenerator[Arrival, None]:
        joined.append(CAREFUL)
        yield Joined(CAREFUL)
        await progress.reached.wait()  # every row of the first one scored
        joined.append(GUESS)
        yield Joined(GUESS)

    scorer = ScriptedScorer()
    scores, saved = evaluate(scorer, brood(), progress)
    assert scores == fixed
    assert saved == fixed_saved  # each batch saved once, with both prompts, in joining order
    assert set(scorer.calls.values()) == {1} and len(scorer.calls) == 2 * len(DEV.texts)
    assert progress.count == 2 * len(DEV.texts)


def test_a_prompt_pruned_before_its_bar_fell_goes_on_and_is_scored_in_full() -> None:
    """Pruned after its first two misses against 0.9; then another plan breeds it too, with
    a bar of 0.2 that its 0.3 clears: it must be asked its other rows after all."""
    progress = Counted(len(DEV.texts))
    bars: dict[str, Hurdle] = {GUESS: Bar(0.9, ties=True)}

    async def brood() -> AsyncGenerator[Arrival, None]:
        yield Joined(GUESS)
        await progress.reached.wait()  # two rows asked, the other eight counted done unasked
        bars[GUESS] = AnyOf((Bar(0.9, ties=True), Bar(0.2, ties=True)))
        yield BarsMoved()

    scorer = ScriptedScorer()
    scores, saved = evaluate(scorer, brood(), progress, bars)
    assert not scores[GUESS].pruned and scores[GUESS].fitness == 0.3
    assert set(scorer.calls.values()) == {1} and len(scorer.calls) == len(DEV.texts)
    assert progress.count == len(DEV.texts)  # the revived rows are not counted twice
    assert sorted(saved) == [0, 1, 2]
    assert all([p["text"] for p in doc["prompts"]] == [GUESS] for doc in saved.values())


def test_a_bar_that_rises_while_the_brood_breeds_prunes_a_prompt_already_scored_in_part() -> None:
    progress = Counted(2)
    bars: dict[str, Hurdle] = {GUESS: Bar(0.0, ties=True)}

    async def brood() -> AsyncGenerator[Arrival, None]:
        yield Joined(GUESS)
        await progress.reached.wait()  # two rows asked, both missed: a bound of 0.8
        bars[GUESS] = Bar(0.9, ties=True)  # an earlier plan's sibling came in
        yield BarsMoved()

    scorer = Pausing()
    scores, saved = evaluate(scorer, brood(), progress, bars)
    assert scores[GUESS].pruned and scores[GUESS].fitness < 0.9
    assert len(scorer.calls) < len(DEV.texts)
    assert all(doc["prompts"] == [] for doc in saved.values())  # pruned: in no batch file


def test_a_joining_prompt_takes_its_rows_from_saved_batches_and_counts_them_as_progress() -> None:
    """A resumed generation: batch 0 was saved before the stop. Its rows are not asked again,
    and the progress bar, whose total counts every row of a stream, still reaches it."""
    _, saved = evaluate(ScriptedScorer(), [CAREFUL], Counted(0))
    done = {0: BatchRecord.from_json(saved[0])}

    async def brood() -> AsyncGenerator[Arrival, None]:
        yield Joined(CAREFUL)

    scorer, progress = ScriptedScorer(), Counted(0)
    scores, resaved = evaluate(scorer, brood(), progress, done=done)
    assert len(scorer.calls) == len(DEV.texts) - 4  # batch 0's four rows came from its file
    assert progress.count == len(DEV.texts)
    fixed, _ = evaluate(ScriptedScorer(), [CAREFUL], Counted(0))
    assert scores == fixed and sorted(resaved) == [1, 2]
