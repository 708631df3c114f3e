"""Score many prompts on the dev set concurrently, one checkpointed batch at a time.

Work runs batch-major (all prompts on batch 0, then batch 1, ...) so batches complete, and are
saved, early and in order; a pool of ``concurrency`` workers keeps the endpoint busy across
batch and prompt boundaries. Children scored against bars (pruning) go row by row instead,
the rows the population missed most first (:meth:`Evaluator.hardest_first`), and the likely
survivors finish first (:func:`~evoprompt.evaluation.schedule.best_first`): a child that cannot
clear its bar usually misses those rows too, and the bar is high by the time it is asked the
rest, so it is pruned sooner; the order changes which calls are made, never a score.
Batches already on disk from an interrupted run are not re-asked: their outputs, predictions
and scores are taken from the file. What an output is worth is the metric's call; the
evaluator only collects, aggregates and saves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evoprompt._async import gather_or_cancel
from evoprompt.checkpoint.schema import BatchRecord, PromptResult
from evoprompt.data.loader import Dataset
from evoprompt.evaluation.prune import Pruner
from evoprompt.evaluation.schedule import Item, batch_major, best_first
from evoprompt.evaluation.scorers import Scorer
from evoprompt.llm.client import LLMClient, journal_only
from evoprompt.llm.errors import NotJournaled
from evoprompt.metrics.base import Example, Judged, Metric
from evoprompt.strategies.bars import Hurdle

BatchSaver = Callable[[int, range, list[PromptResult]], Awaitable[None]]
"""Called as each batch completes with (batch index, its dev rows, every prompt's results)."""
_PENDING = Judged("", "", 0.0)


class ScheduleBug(RuntimeError):
    """A row schedule lost or repeated a (prompt, row) pair: an unasked row would be scored as
    a miss. Every batch must be counted done exactly once, and a batch file may leave out only
    a pruned prompt; together these also mean no open prompt ends with an unasked row."""

    def __init__(self) -> None:
        super().__init__("internal error: the row schedule lost or repeated a pair")


@dataclass(frozen=True)
class Score:
    """One prompt's fitness, the metric's analysis of its outputs, and each example's judged
    output (the held-out statistics pair prompts row by row); for a ``pruned`` prompt the
    fitness is an upper bound (below the bar it had to clear) and there is no analysis."""

    fitness: float
    analysis: dict[str, Any]
    judged: tuple[Judged, ...] = ()
    pruned: bool = False


def recovered(entry: PromptResult) -> list[Judged]:
    """One prompt's judged outputs as a batch file stores them."""
    return [
        Judged(output, prediction, score)
        for output, prediction, score in zip(
            entry.outputs, entry.predictions, entry.scores, strict=True
        )
    ]


class Evaluator:
    def __init__(
        self,
        client: LLMClient,
        scorer: Scorer,
        metric: Metric,
        dev: Dataset,
        *,
        batch_size: int,
        concurrency: int,
        progress: Callable[[int], None] = lambda n: None,
        keep_rows: bool = False,
    ):
        self.client = client
        self.scorer = scorer
        self.metric = metric
        self.examples = [Example(text, gold) for text, gold in zip(dev.texts, dev.gold)]
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.progress = progress
        # per-row scores of prompts scored in full, for hardest_first (only when it will be
        # asked: it trims them to the population, and nothing else would)
        self.keep_rows = keep_rows
        self._rows: dict[str, list[float]] = {}

    def batches(self) -> list[range]:
        size = len(self.examples)
        return [range(s, min(s + self.batch_size, size)) for s in range(0, size, self.batch_size)]

    def requests_needed(self, prompts: Sequence[str], done: dict[int, BatchRecord]) -> int:
        """Requests for the rows no batch file holds (at most: pruning asks fewer)."""
        todo = self._todo(prompts, done)
        return sum(len(r) * len(todo[b]) for b, r in enumerate(self.batches()))

    def _todo(self, prompts: Sequence[str], done: dict[int, BatchRecord]) -> list[list[str]]:
        """Per batch, the prompts its file does not hold (a pruned prompt may be missing)."""
        held = {b: {entry.text for entry in record.prompts} for b, record in done.items()}
        return [
            [p for p in prompts if p not in held.get(b, ())] for b in range(len(self.batches()))
        ]

    def score(self, examples: Sequence[Example], judged: Sequence[Judged]) -> Score:
        return Score(
            self.metric.fitness([j.score for j in judged]),
            self.metric.analyse(examples, judged),
            tuple(judged),
        )

    async def evaluate(
        self,
        prompts: Sequence[str],
        done: dict[int, BatchRecord],
        save: BatchSaver,
        bars: Mapping[str, Hurdle] | None = None,
        order: Sequence[int] | None = None,
    ) -> dict[str, Score]:
        """Fitness of each prompt; ``done`` holds batch documents recovered from disk.

        A prompt with a bar in ``bars`` stops being asked once it provably misses it; its
        Score is then ``pruned``. A batch is saved once every prompt still asked has all its
        rows; a prompt pruned part-way through a batch is left out of that batch's file.
        ``order``: every row index once, the order to ask rows in, the prompt that can still
        reach the highest fitness first (default: batch-major, prompts in turn).
        """
        batches = self.batches()
        judged = {p: [_PENDING] * len(self.examples) for p in prompts}
        for b, record in done.items():
            for entry in record.prompts:
                if entry.text in judged:
                    judged[entry.text][batches[b].start : batches[b].stop] = recovered(entry)
        todo = self._todo(prompts, done)
        left = {b: len(batches[b]) * len(ps) for b, ps in enumerate(todo) if ps}
        pruner = Pruner(self.metric, bars or {}, judged, _PENDING)
        if order is None:
            work = batch_major(todo, batches)
        else:
            if sorted(order) != list(range(len(self.examples))):
                raise ValueError("a row order must name every row exactly once")
            work = best_first(order, prompts, todo, batches, pruner, self.concurrency)

        async def worker(items: Iterator[Item]) -> None:
            for b, prompt, i in items:
                if prompt not in pruner.pruned:
                    example = self.examples[i]
                    output = await self.scorer.answer(self.client, prompt, example.text)
                    judged[prompt][i] = found = self.metric.judge(output, example)
                    pruner.answered(prompt, found.score)
                self.progress(1)
                left[b] -= 1
                if left[b] == 0:
                    results = self._results(batches[b], prompts, judged, pruner.pruned)
                    await save(b, batches[b], results)

        await gather_or_cancel([worker(work) for _ in range(self.concurrency)])
        if any(left.values()):  # a pair lost or repeated: no score can be trusted
            raise ScheduleBug()
        for prompt in prompts:
            self.scorer.forget(prompt)
            if self.keep_rows and prompt not in pruner.pruned:
                self._rows[prompt] = [j.score for j in judged[prompt]]
        return {
            p: Score(pruner.bound(p), {}, pruned=True)
            if p in pruner.pruned
            else self.score(self.examples, judged[p])
            for p in prompts
        }

    async def hardest_first(self, population: Sequence[str]) -> list[int]:
        """Row indices, those ``population`` lost most score on first (ties by index).

        Each prompt's per-row scores are kept from its scoring, or, after a resume, read back
        from the journal (nothing is sent; a row it lacks counts as no loss), so an interrupted
        run orders rows exactly as an uninterrupted one. Only ``population``'s are kept.
        """
        lost = [0.0] * len(self.examples)
        kept: dict[str, list[float]] = {}
        for prompt in dict.fromkeys(population):
            rows = self._rows.get(prompt)
            if rows is None:
                rows = await self._journaled_rows(prompt)
            kept[prompt] = rows
            for i, score in enumerate(rows):
                lost[i] += 1.0 - score
        self._rows = kept
        return sorted(range(len(lost)), key=lambda i: (-lost[i], i))

    async def _journaled_rows(self, prompt: str) -> list[float]:
        rows = []
        try:
            with journal_only():
                for i, example in enumerate(self.examples, 1):
                    try:
                        output = await self.scorer.answer(self.client, prompt, example.text)
                    except NotJournaled:
                        rows.append(1.0)
                    else:
                        rows.append(self.metric.judge(output, example).score)
                    if i % 256 == 0:
                        await asyncio.sleep(0)  # journal reads only: let the loop breathe
        finally:
            self.scorer.forget(prompt)  # nothing asked under journal_only stays cached
        return rows

    def _results(
        self,
        rows: range,
        prompts: Sequence[str],
        judged: dict[str, list[Judged]],
        pruned: Collection[str],
    ) -> list[PromptResult]:
        examples = self.examples[rows.start : rows.stop]
        results = []
        for prompt in prompts:
            batch = judged[prompt][rows.start : rows.stop]
            if any(j is _PENDING for j in batch):
                if prompt not in pruned:  # every row of this batch has been counted done
                    raise ScheduleBug()
                continue  # pruned before this batch was done: its answers stay in the journal
            results.append(
                PromptResult(
                    text=prompt,
                    outputs=[j.output for j in batch],
                    predictions=[j.prediction for j in batch],
                    ground_truths=[e.gold for e in examples],
                    scores=[j.score for j in batch],
                    analysis=self.metric.analyse(examples, batch),
                )
            )
        return results
