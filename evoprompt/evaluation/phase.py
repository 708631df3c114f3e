"""One scoring phase: prompts join, a pool of workers asks their rows, batches are saved as
they complete, and prompts scored against bars are pruned (and revived) as answers land.

Prompts come as a fixed list, or as a stream of :data:`Arrival` events while others are scored
(children as their operator replies arrive). Either way each (prompt, row) pair still to do is
handed out exactly once by the schedule: a pair of a pruned prompt is counted done without a
call (its row is *skipped*), so a batch is complete once its count reaches zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

from evoprompt.checkpoint.schema import BatchRecord, PromptResult, RowTally
from evoprompt.evaluation.schedule import BatchMajor, batch_of
from evoprompt.evaluation.scorers import Scorer
from evoprompt.llm.client import LLMClient
from evoprompt.metrics.base import Example, Judged, Metric
from evoprompt.pruning.bars import Hurdle
from evoprompt.pruning.bound import Pruner
from evoprompt.pruning.order import BestFirst, hardest_first

BatchSaver = Callable[[int, range, list[PromptResult]], Awaitable[None]]
"""Called as each batch completes with (batch index, its dev rows, every prompt's results)."""
PENDING = Judged("", "", 0.0)
"""A row not answered yet (by identity)."""


@dataclass(frozen=True)
class Joined:
    """A prompt to score joins (a child whose operator reply arrived); the bars may have
    moved with it."""

    prompt: str


@dataclass(frozen=True)
class BarsMoved:
    """Replies arrived that brought no prompt to score, but the bars may have moved (a sibling
    bred by an earlier plan came in, or another plan bred a child already joined)."""


Arrival = Joined | BarsMoved


class Scoring(Protocol):
    """What a phase uses of its evaluator (:class:`~.evaluator.Evaluator`)."""

    client: LLMClient
    scorer: Scorer
    metric: Metric
    examples: list[Example]
    concurrency: int

    def progress(self, n: int) -> None: ...

    def batches(self) -> list[range]: ...


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


class Phase:
    """The state of one :meth:`Evaluator.evaluate` call. ``judged`` holds every joined
    prompt's rows (:data:`PENDING` where not answered yet); ``pruner`` says which prompts
    their bars rule out. Against bars with a ``tally`` the rows are asked best first
    (:class:`~evoprompt.pruning.order.BestFirst`), otherwise batch-major."""

    def __init__(
        self,
        evaluator: Scoring,
        done: dict[int, BatchRecord],
        save: BatchSaver,
        bars: Mapping[str, Hurdle] | None,
        tally: RowTally | None,
    ) -> None:
        self._evaluator = evaluator
        self._done = done
        self._save = save
        self._batches = evaluator.batches()
        self._batch_of = batch_of(self._batches)
        self.judged: dict[str, list[Judged]] = {}
        self.pruner = Pruner(evaluator.metric, {} if bars is None else bars, self.judged, PENDING)
        self._work: BatchMajor | BestFirst = (
            BatchMajor(self._batches)
            if tally is None or bars is None
            else BestFirst(hardest_first(tally), self.pruner, evaluator.concurrency)
        )
        self._left = [0] * len(self._batches)  # pairs not counted done yet, per batch
        self._asked: set[int] = set()  # batches with pairs to ask here
        self._skipped: dict[str, list[int]] = {}  # rows of pruned prompts counted done unasked
        self._wakeup = Wakeup()
        self._streaming = False

    def fixed(self, prompts: Sequence[str]) -> None:
        """Every prompt joins at once, and no more can."""
        for prompt in dict.fromkeys(prompts):
            self._join(prompt)
        self._work.close()
        self._wakeup.over = True

    async def follow(self, arrivals: AsyncGenerator[Arrival, None]) -> None:
        """Prompts join as they arrive; after each arrival every prompt is checked against
        the bars as they now are. Once the stream ends, the batches completed meanwhile are
        saved (a batch is saved only once no more prompts can join)."""
        self._streaming = True
        try:
            async with aclosing(arrivals):
                async for arrival in arrivals:
                    if isinstance(arrival, Joined) and arrival.prompt not in self.judged:
                        self._join(arrival.prompt)
                    self._rebar()
                    self._wakeup.wake()
            self._wakeup.over = True
        finally:
            self._work.close()  # after a failure, the workers stop at their next call
            self._wakeup.wake()
        for b in [b for b in sorted(self._asked) if self._left[b] == 0]:  # done while joining
            await self._complete(b)

    async def worker(self) -> None:
        """Ask pairs until the schedule runs out, waiting while none is ready."""
        for pair in self._work:
            if pair is None:  # nothing to ask until a prompt joins or an answer lands
                await self._wakeup.wait()
            else:
                await self._ask(*pair)

    def finish(self, tally: RowTally | None) -> None:
        """Check that every pair was counted done once; count every row judged into
        ``tally``."""
        if any(self._left):  # a pair lost or repeated: no score can be trusted
            raise ScheduleBug()
        for prompt, rows in self.judged.items():
            self._evaluator.scorer.forget(prompt)
            if tally is not None:
                tally.add((i, j.score) for i, j in enumerate(rows) if j is not PENDING)

    def _join(self, prompt: str) -> None:
        """A prompt joins: its rows in ``done``'s batch files are taken from there, the others
        are handed to the schedule."""
        batches = self._batches
        rows = [PENDING] * len(self._batch_of)
        todo = set(range(len(batches)))
        for b, record in self._done.items():
            for entry in record.prompts:
                if entry.text == prompt:
                    rows[batches[b].start : batches[b].stop] = recovered(entry)
                    todo.discard(b)
        self.judged[prompt] = rows
        self.pruner.add(prompt)
        if self._streaming:  # a stream's phase total counts every row
            self._evaluator.progress(len(rows) - self.pruner.waiting(prompt))
        for b in todo:
            self._left[b] += len(batches[b])
        self._asked.update(todo)
        self._work.add(prompt, (i for b in sorted(todo) for i in batches[b]))

    def _rebar(self) -> None:
        """Prune what the bars now rule out; a pruned prompt they no longer rule out (its bar
        fell) is revived: the rows it skipped are to be asked after all."""
        for prompt in self.pruner.rebar():
            rows = self._skipped.pop(prompt, [])
            for i in rows:
                self._left[self._batch_of[i]] += 1
            self._evaluator.progress(-len(rows))
            self._work.add(prompt, rows)

    async def _ask(self, prompt: str, i: int) -> None:
        """Ask one pair (or skip it: its prompt is pruned); save its batch once complete."""
        if prompt in self.pruner.pruned:
            self._skipped.setdefault(prompt, []).append(i)
        else:
            evaluator = self._evaluator
            example = evaluator.examples[i]
            output = await evaluator.scorer.answer(evaluator.client, prompt, example.text)
            self.judged[prompt][i] = found = evaluator.metric.judge(output, example)
            self.pruner.answered(prompt, found.score)
            self._wakeup.wake()  # an answer can make a waiting row safe to ask
        self._evaluator.progress(1)
        b = self._batch_of[i]
        self._left[b] -= 1
        if self._left[b] == 0 and self._wakeup.over:
            await self._complete(b)

    async def _complete(self, b: int) -> None:
        rows = self._batches[b]
        await self._save(b, rows, self._results(rows, self.pruner.pruned))

    def _results(self, rows: range, pruned: Collection[str]) -> list[PromptResult]:
        """Every prompt's results on one batch's rows; a prompt pruned before the batch was
        done is left out (its answers stay in the journal)."""
        metric = self._evaluator.metric
        examples = self._evaluator.examples[rows.start : rows.stop]
        results = []
        for prompt, judged in self.judged.items():
            batch = judged[rows.start : rows.stop]
            if any(j is PENDING for j in batch):
                if prompt not in pruned:  # every row of this batch has been counted done
                    raise ScheduleBug()
                continue
            results.append(
                PromptResult(
                    text=prompt,
                    outputs=[j.output for j in batch],
                    predictions=[j.prediction for j in batch],
                    ground_truths=[e.gold for e in examples],
                    scores=[j.score for j in batch],
                    analysis=metric.analyse(examples, batch),
                )
            )
        return results


def recovered(entry: PromptResult) -> list[Judged]:
    """One prompt's judged outputs as a batch file stores them."""
    return [
        Judged(output, prediction, score)
        for output, prediction, score in zip(
            entry.outputs, entry.predictions, entry.scores, strict=True
        )
    ]
