"""Score many prompts on the dev set concurrently, one checkpointed batch at a time.

Work runs batch-major (all prompts on batch 0, then batch 1, ...) so batches complete, and are
saved, early and in order; a pool of ``concurrency`` workers keeps the endpoint busy across
batch and prompt boundaries. Children scored against bars (pruning) go row by row instead,
the rows prompts have missed most so far first (:func:`~.schedule.hardest_first`), and the
likely survivors finish first (:func:`~.schedule.best_first`): a child that cannot clear its
bar usually misses those rows too, and the bar is high by the time it is asked the rest, so it
is pruned sooner; the order changes which calls are made, never a score.
Batches already on disk from an interrupted run are not re-asked: their outputs, predictions
and scores are taken from the file. What an output is worth is the metric's call; the
evaluator only collects, aggregates and saves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from evoprompt._async import gather_or_cancel
from evoprompt.checkpoint.schema import BatchRecord, PromptResult, RowTally
from evoprompt.data.loader import Dataset
from evoprompt.evaluation.prune import Pruner
from evoprompt.evaluation.schedule import BatchMajor, BestFirst, batch_of, hardest_first
from evoprompt.evaluation.scorers import Scorer
from evoprompt.llm.client import LLMClient
from evoprompt.metrics.base import Example, Judged, Metric
from evoprompt.strategies.bars import Hurdle

BatchSaver = Callable[[int, range, list[PromptResult]], Awaitable[None]]
"""Called as each batch completes with (batch index, its dev rows, every prompt's results)."""
_PENDING = Judged("", "", 0.0)


class Wakeup:
    """Wakes the workers waiting for a prompt to join or an answer to land; ``over`` once no
    prompt can join any more."""

    def __init__(self) -> None:
        self.over = False
        self._event = asyncio.Event()
        self._waiting = 0

    async def wait(self) -> None:
        self._waiting += 1
        try:
            await self._event.wait()
        finally:
            self._waiting -= 1

    def wake(self) -> None:
        if self._waiting:  # most answers find nobody waiting: no new event for them
            self._event.set()
            self._event = asyncio.Event()


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
    ):
        self.client = client
        self.scorer = scorer
        self.metric = metric
        self.examples = [Example(text, gold) for text, gold in zip(dev.texts, dev.gold)]
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.progress = progress

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
        prompts: Sequence[str] | AsyncGenerator[str | None, None],
        done: dict[int, BatchRecord],
        save: BatchSaver,
        bars: Mapping[str, Hurdle] | None = None,
        tally: RowTally | None = None,
        penalty: Callable[[str], float] | None = None,
    ) -> dict[str, Score]:
        """Fitness of each prompt; ``done`` holds batch documents recovered from disk.

        ``prompts`` may also join while others are scored (children as their operator replies
        arrive): each item of the async generator is a prompt joining, or None where only
        ``bars`` changed. After each item every prompt is checked against the bars as they now
        are: one they rule out is pruned, a pruned one they no longer rule out (its bar fell) is
        revived and asked the rows it skipped, so the last bars decide, as with a fixed list.
        A joining prompt counts its rows recovered from ``done`` as progress (a stream's phase
        total counts every row).
        A prompt with a bar in ``bars`` stops being asked once it provably misses it; its
        Score is then ``pruned``. A batch is saved once every prompt still asked has all its
        rows and no more can join; a prompt pruned part-way through a batch is left out of
        that batch's file. ``tally``: every row judged here is counted into it; with ``bars``
        too, rows are asked in its order, the prompt that can still reach the highest fitness
        first (otherwise batch-major, prompts in turn). ``penalty``: what each prompt's length
        takes off its fitness before it meets its bar (``fewshot.length``; the scores returned
        are not penalised).
        """
        batches = self.batches()
        if tally is not None and len(tally) != len(self.examples):
            raise ValueError("a row tally must have one entry per dev row")
        streaming = not isinstance(prompts, Sequence)
        batch = batch_of(batches)
        judged: dict[str, list[Judged]] = {}
        pruner = Pruner(self.metric, bars if bars is not None else {}, judged, _PENDING, penalty)
        work: BatchMajor | BestFirst = (
            BatchMajor(batches)
            if tally is None or bars is None
            else BestFirst(hardest_first(tally), batches, pruner, self.concurrency)
        )
        left = [0] * len(batches)  # pairs not counted done yet, per batch
        asked: set[int] = set()  # batches with pairs to ask here
        skipped: dict[str, list[int]] = {}  # rows of pruned prompts counted done unasked
        joining = Wakeup()

        def join(prompt: str) -> None:
            rows = [_PENDING] * len(self.examples)
            todo = set(range(len(batches)))
            for b, record in done.items():
                for entry in record.prompts:
                    if entry.text == prompt:
                        rows[batches[b].start : batches[b].stop] = recovered(entry)
                        todo.discard(b)
            judged[prompt] = rows
            pruner.add(prompt)
            if streaming:
                self.progress(len(rows) - pruner.waiting(prompt))
            for b in todo:
                left[b] += len(batches[b])
            asked.update(todo)
            work.add(prompt, (i for b in sorted(todo) for i in batches[b]))

        async def complete(b: int) -> None:
            await save(b, batches[b], self._results(batches[b], judged, pruner.pruned))

        async def worker() -> None:
            for item in work:
                if item is None:  # nothing to ask until a prompt joins or an answer lands
                    await joining.wait()
                    continue
                b, prompt, i = item
                if prompt in pruner.pruned:
                    skipped.setdefault(prompt, []).append(i)
                else:
                    example = self.examples[i]
                    output = await self.scorer.answer(self.client, prompt, example.text)
                    judged[prompt][i] = found = self.metric.judge(output, example)
                    pruner.answered(prompt, found.score)
                    joining.wake()  # an answer can make a waiting row safe to ask
                self.progress(1)
                left[b] -= 1
                if left[b] == 0 and joining.over:
                    await complete(b)

        async def feed(arriving: AsyncGenerator[str | None, None]) -> None:
            try:
                async with aclosing(arriving):
                    async for prompt in arriving:
                        if prompt is not None and prompt not in judged:
                            join(prompt)
                        for revived in pruner.rebar():  # its bar fell: ask what was skipped
                            rows = skipped.pop(revived, [])
                            for i in rows:
                                left[batch[i]] += 1
                            self.progress(-len(rows))
                            work.add(revived, rows)
                        joining.wake()
                joining.over = True
            finally:
                work.close()  # after a failure, the workers stop at their next call
                joining.wake()
            for b in [b for b in sorted(asked) if left[b] == 0]:  # done while prompts joined
                await complete(b)

        tasks: list[Awaitable[None]] = [worker() for _ in range(self.concurrency)]
        if isinstance(prompts, Sequence):
            for prompt in dict.fromkeys(prompts):
                join(prompt)
            work.close()
            joining.over = True
        else:
            tasks.append(feed(prompts))
        await gather_or_cancel(tasks)
        if any(left):  # a pair lost or repeated: no score can be trusted
            raise ScheduleBug()
        for prompt, rows in judged.items():
            self.scorer.forget(prompt)
            if tally is not None:
                tally.add((i, j.score) for i, j in enumerate(rows) if j is not _PENDING)
        return {
            p: Score(pruner.bound(p), {}, pruned=True)
            if p in pruner.pruned
            else self.score(self.examples, judged[p])
            for p in judged
        }

    def _results(
        self, rows: range, judged: dict[str, list[Judged]], pruned: Collection[str]
    ) -> list[PromptResult]:
        examples = self.examples[rows.start : rows.stop]
        results = []
        for prompt in judged:
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
