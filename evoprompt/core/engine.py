"""The generation loop: initial population, then plan, breed, score, select.

The engine owns the order of events that makes resume exact:

1. random choices are drawn from the state's generator before any call of a generation;
2. each evaluated batch is announced as it completes (the recorder saves it and the cursor);
3. at the end of a generation the whole state, generator included, is announced for saving.

After the last generation a held-out test phase scores the finalists on the test rows (see
:mod:`evoprompt.core.heldout`); it is pending until a report for the last completed generation
and this test set is in the state, so a run killed in it, or extended, tests again.

A resumed run re-enters the interrupted generation from the last state.pkl; its calls are
answered by the journal and its finished batches by their files, so it pays for nothing twice.
What each event writes is the :class:`~evoprompt.core.recorder.Recorder`'s business.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

from evoprompt._async import gather_or_cancel
from evoprompt.checkpoint.schema import (
    FINISHED,
    BatchRecord,
    PromptResult,
    Stage,
    TestReport,
)
from evoprompt.checkpoint.state import ExperimentState, Individual
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import Config
from evoprompt.core.heldout import Tester
from evoprompt.core.recorder import Recorder
from evoprompt.core.result import generation_row
from evoprompt.core.seeding import Seeding
from evoprompt.display import Display
from evoprompt.evaluation.evaluator import Evaluator, Score
from evoprompt.evaluation.phase import Arrival, BarsMoved, Joined
from evoprompt.evolution.operators import Breeder
from evoprompt.pruning.control import Brood, Pruning
from evoprompt.strategies.base import Offspring, Strategy


class Engine:
    def __init__(
        self,
        *,
        config: Config,
        state: ExperimentState,
        evaluator: Evaluator,
        breeder: Breeder,
        strategy: Strategy,
        store: CheckpointStore,
        recorder: Recorder,
        display: Display,
        tester: Tester | None = None,
    ):
        self.config = config
        self.tester = tester  # None: no test set (test_size 0, or no rows left)
        self.state = state
        self.evaluator = evaluator
        self.breeder = breeder
        self.strategy = strategy
        self.store = store  # read only: batches an interrupted run already saved
        self.recorder = recorder
        self.display = display
        self.pruning = Pruning(
            prune=config.prune,
            metric=evaluator.metric,
            threshold=getattr(strategy, "threshold", None),
            size=config.population_size,
        )

    async def run(self) -> ExperimentState:
        if self.state.generation < 0:
            await self._initial_population()
        while self.state.generation < self.config.max_generations:
            await self._generation(self.state.generation + 1)
        if self.tester is not None:
            await self.tester.final(self.state)
        await self.recorder.stopped(FINISHED)
        return self.state

    async def retest(self, prompts: list[str], stop: Stage) -> TestReport:
        """A test phase on demand: the finalists (or ``prompts``) on this engine's test set;
        one already recorded is returned as is. The run's stop ``stop`` is what every save of
        this phase records (see :attr:`Recorder.kept`), and is saved again at its end."""
        assert self.tester is not None
        return await self.tester.retest(self.state, prompts, stop)

    # -- phases ----------------------------------------------------------------------------

    async def _initial_population(self) -> None:
        started = time.monotonic()
        self.recorder.phase_started(0)
        seeding = Seeding(self.config, self.breeder, self.strategy, self.display)
        origin = await seeding.prompts()
        texts = list(origin)
        scores = await self._score(texts, 0)
        population = [self._individual(t, scores, 0, origin[t]) for t in texts]
        await self._finish(0, population, len(scores), started, self.state.rng_state)

    async def _generation(self, generation: int) -> None:
        started = time.monotonic()
        self.recorder.phase_started(generation)
        rng = self.state.rng()
        plans = self.strategy.plan(self.state.population, rng, generation)
        children: list[str | None] = [None] * len(plans)
        bars = self.pruning.brood(self.state.population, plans)
        scores = await self._score(self._brood(generation, plans, children, bars), generation, bars)
        dropped = children.count(None)
        if dropped:
            self.display.line(
                f"gen {generation}: {dropped} operator replies had no usable <prompt> child "
                "and were dropped"
            )
        offspring = [
            None if child is None else self._individual(child, scores, generation, plan)
            for plan, child in zip(plans, children)
        ]
        for child in offspring:  # losers too: population.jsonl lists every prompt scored
            if child is not None:
                known = self.state.scored.get(child.text)
                if known is None or known.pruned:
                    self.state.scored[child.text] = child
        survivors = self.strategy.select(
            self.state.population, plans, offspring, self.config.population_size
        )
        rng_state = dict(rng.bit_generator.state)
        await self._finish(generation, survivors, len(scores), started, rng_state)

    async def _brood(
        self,
        generation: int,
        plans: list[Offspring],
        children: list[str | None],
        bars: Brood | None,
    ) -> AsyncGenerator[Arrival, None]:
        """Breed every plan's child into ``children``, yielding each child to score as soon as
        its operator reply arrives (:class:`BarsMoved` for replies that added none), ``bars``
        brought up to date first, so no slot waits for the slowest reply while children are
        ready.

        Replies are journaled like any call: a resumed run gets the same children back,
        perhaps in another order, which changes which rows are asked first, never a score.
        """
        rows = len(self.evaluator.examples)
        self.display.phase(
            f"gen {generation}: breeding and scoring {len(plans)} children",
            len(plans) * (1 + rows),
        )
        replies: asyncio.Queue[tuple[int, str | None] | None] = asyncio.Queue()

        async def breed(k: int, plan: Offspring) -> None:
            child = await self.breeder.breed(plan)
            self.display.advance()
            replies.put_nowait((k, child))

        breeding = asyncio.ensure_future(
            gather_or_cancel([breed(k, plan) for k, plan in enumerate(plans)])
        )
        breeding.add_done_callback(lambda _: replies.put_nowait(None))  # the end, or a failure
        joined: set[str] = set()
        try:
            while True:
                arrived = [await replies.get()]
                while not replies.empty():  # replies landing together: one update of the bars
                    arrived.append(replies.get_nowait())
                for reply in filter(None, arrived):
                    children[reply[0]] = reply[1]
                if None in arrived:
                    breeding.result()  # a failed breed stops the generation here
                if bars is not None:
                    bars.bred(children)
                fresh: list[Arrival] = []
                for k in sorted(k for k, _ in filter(None, arrived)):
                    child = children[k]
                    if child is not None and child not in joined and self._unscored(child):
                        joined.add(child)
                        fresh.append(Joined(child))
                    else:
                        self.display.advance(rows)  # no rows to ask for this plan
                for arrival in fresh or [BarsMoved()]:
                    yield arrival
                if None in arrived:
                    return
        finally:
            breeding.cancel()
            await asyncio.gather(breeding, return_exceptions=True)

    def _unscored(self, text: str) -> bool:
        """Not scored yet, or only pruned so far (resumed: the journal answers the rows asked)."""
        known = self.state.scored.get(text)
        return known is None or known.pruned

    async def _score(
        self,
        texts: list[str] | AsyncGenerator[Arrival, None],
        generation: int,
        bars: Brood | None = None,
    ) -> dict[str, Score]:
        """Scores of the texts not scored yet, or only pruned so far; ``texts`` may also arrive
        while others are scored (see ``_brood``)."""
        batches = self.evaluator.batches()
        if isinstance(texts, list):
            texts = [t for t in dict.fromkeys(texts) if self._unscored(t)]
            done = self.store.load_batches(generation, texts, batches)
            total = self.evaluator.requests_needed(texts, done)
            self.display.phase(f"gen {generation}: scoring {len(texts)} prompts", total)
        else:
            done = self.store.load_batches(generation, None, batches)
        self.recorder.phase_started(generation, len(done))

        async def save(batch_idx: int, rows: range, results: list[PromptResult]) -> None:
            record = BatchRecord(generation, batch_idx, (rows.start, rows.stop), results)
            await self.recorder.batch_done(record)

        dev = [example.text for example in self.evaluator.examples]
        tally = self.pruning.tally(self.state.row_tally, dev)
        if tally is not None:  # kept with the state: a resumed run goes on from it
            self.state.row_tally = tally
        return await self.evaluator.evaluate(texts, done, save, bars, tally)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _individual(
        self, text: str, scores: dict[str, Score], generation: int, plan: Offspring | None
    ) -> Individual:
        if text not in scores:
            return self.state.scored[text]
        score = scores[text]
        return Individual(
            text=text,
            fitness=score.fitness,
            generation=generation,
            parents=plan.parents if plan else (),
            operator=plan.operator if plan else "seed",
            analysis=score.analysis,
            pruned=score.pruned,
        )

    async def _finish(
        self,
        generation: int,
        population: list[Individual],
        evaluated: int,
        started: float,
        rng_state: dict[str, Any],
    ) -> None:
        state = self.state
        for ind in population:
            state.scored.setdefault(ind.text, ind)
        state.population = population
        state.rng_state = rng_state
        state.generation = generation
        best = state.best()
        assert best is not None
        born = [ind for ind in state.scored.values() if ind.generation == generation]
        duration_s = round(time.monotonic() - started, 3)
        paid = self.evaluator.client.journal.totals()
        row = generation_row(generation, population, born, evaluated, duration_s, paid)
        state.generations.append(row)
        await self.recorder.generation_done(generation)
        self.display.close()
        self.display.line(
            f"generation {generation}: best {best.fitness:.3f}, mean {row.mean_fitness:.3f}, "
            f"{evaluated} prompts scored in {row.duration_s:.1f}s"
        )
