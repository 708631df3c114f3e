"""Score many prompts on the dev set concurrently, one checkpointed batch at a time.

Work runs batch-major (all prompts on batch 0, then batch 1, ...) so batches complete, and are
saved, early and in order; a pool of ``concurrency`` workers keeps the endpoint busy across
batch and prompt boundaries. Children scored against bars (pruning) go row by row instead, in
the order :mod:`evoprompt.pruning.order` gives (the order changes which calls are made, never
a score). Batches already on disk from an interrupted run are not re-asked: their outputs,
predictions and scores are taken from the file. What an output is worth is the metric's call;
the evaluator only collects, aggregates and saves. One call's moving parts live in
:class:`~evoprompt.evaluation.phase.Phase`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evoprompt._async import gather_or_cancel
from evoprompt.checkpoint.schema import BatchRecord, RowTally
from evoprompt.data.loader import Dataset
from evoprompt.evaluation.phase import Arrival, BatchSaver, Phase
from evoprompt.evaluation.scorers import Scorer
from evoprompt.llm.client import LLMClient
from evoprompt.metrics.base import Example, Judged, Metric
from evoprompt.pruning.bars import Hurdle


@dataclass(frozen=True)
class Score:
    """One prompt's fitness, the metric's analysis of its outputs, and each example's judged
    output (the held-out statistics pair prompts row by row); for a ``pruned`` prompt the
    fitness is an upper bound (below the bar it had to clear) and there is no analysis."""

    fitness: float
    analysis: dict[str, Any]
    judged: tuple[Judged, ...] = ()
    pruned: bool = False


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
        prompts: Sequence[str] | AsyncGenerator[Arrival, None],
        done: dict[int, BatchRecord],
        save: BatchSaver,
        bars: Mapping[str, Hurdle] | None = None,
        tally: RowTally | None = None,
    ) -> dict[str, Score]:
        """Fitness of each prompt; ``done`` holds batch documents recovered from disk.

        ``prompts`` may also join while others are scored (children as their operator replies
        arrive): a stream of :class:`~.phase.Joined` and :class:`~.phase.BarsMoved` events.
        After each event every prompt is checked against ``bars`` as they now are: one they
        rule out is pruned, a pruned one they no longer rule out (its bar fell) is revived and
        asked the rows it skipped, so the last bars decide, as with a fixed list. A joining
        prompt counts its rows recovered from ``done`` as progress (a stream's phase total
        counts every row).
        A prompt with a bar in ``bars`` stops being asked once it provably misses it; its
        Score is then ``pruned``. A batch is saved once every prompt still asked has all its
        rows and no more can join; a prompt pruned part-way through a batch is left out of
        that batch's file. ``tally``: every row judged here is counted into it; with ``bars``
        too, rows are asked in its order, the prompt that can still reach the highest fitness
        first (otherwise batch-major, prompts in turn).
        """
        if tally is not None and len(tally) != len(self.examples):
            raise ValueError("a row tally must have one entry per dev row")
        phase = Phase(self, done, save, bars, tally)
        tasks: list[Awaitable[None]] = [phase.worker() for _ in range(self.concurrency)]
        if isinstance(prompts, Sequence):
            phase.fixed(prompts)
        else:
            tasks.append(phase.follow(prompts))
        await gather_or_cancel(tasks)
        phase.finish(tally)
        pruner = phase.pruner
        return {
            p: Score(pruner.bound(p), {}, pruned=True)
            if p in pruner.pruned
            else self.score(self.examples, rows)
            for p, rows in phase.judged.items()
        }
