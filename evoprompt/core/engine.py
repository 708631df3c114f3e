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
    GenerationRow,
    PromptResult,
    RowTally,
    Stage,
    TestReport,
)
from evoprompt.checkpoint.schema.tally import rows_key
from evoprompt.checkpoint.state import ExperimentState, Individual
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import Config
from evoprompt.core.heldout import Tester
from evoprompt.core.judging import finalists, given
from evoprompt.core.recorder import Recorder
from evoprompt.display import Display
from evoprompt.evaluation.evaluator import Evaluator, Score
from evoprompt.evaluation.prune import prunable
from evoprompt.evolution.diversity import diversity
from evoprompt.evolution.operators import Breeder
from evoprompt.strategies.bars import AnyOf, Hurdle
from evoprompt.strategies.base import Offspring, Strategy
from evoprompt.strategies.paraphrase import paraphrase, paraphrase_again

# Rounds of asks per missing initial prompt: the first SAME_ROUNDS as every earlier version
# asked them (their journaled answers stay valid), the rest listing the prompts already found.
PARAPHRASE_ROUNDS, SAME_ROUNDS = 4, 2


class PopulationError(RuntimeError):
    """Even after re-asking, too few distinct initial prompts for the strategy to work with."""


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

    async def run(self) -> ExperimentState:
        if self.state.generation < 0:
            await self._initial_population()
        while self.state.generation < self.config.max_generations:
            await self._generation(self.state.generation + 1)
        if self.tester is not None:
            chosen = finalists(self.state, self.config.seed_prompts, self.config.test_top_k)
            report = self.tester.recorded(self.state, chosen)
            if report is None or report.generation != self.state.generation:
                await self.tester.run(self.state, chosen)
        await self.recorder.stopped(FINISHED)
        return self.state

    async def retest(self, prompts: list[str], stop: Stage) -> TestReport:
        """A test phase on demand: the finalists (or ``prompts``) on this engine's test set;
        one already recorded is returned as is. The run's stop ``stop`` is what every save of
        this phase records (see :attr:`Recorder.kept`), and is saved again at its end."""
        assert self.tester is not None
        seeds = self.config.seed_prompts
        chosen = (
            given(self.state, prompts, seeds)
            if prompts
            else finalists(self.state, seeds, self.config.test_top_k)
        )
        report = self.tester.recorded(self.state, chosen)
        self.recorder.kept = stop
        if report is None:
            report = await self.tester.run(self.state, chosen)
            await self.recorder.stopped(stop)
        return report

    # -- phases ----------------------------------------------------------------------------

    async def _initial_population(self) -> None:
        started = time.monotonic()
        self.recorder.phase_started(0)
        size = self.config.population_size
        texts = list(dict.fromkeys(" ".join(p.split()) for p in self.config.seed_prompts))[:size]
        origin: dict[str, Offspring | None] = dict.fromkeys(texts)
        slots = list(range(size - len(texts)))
        if slots:
            self.display.phase("gen 0: paraphrasing seed prompts", len(slots))
            seeds = list(texts)
            for round_ in range(SAME_ROUNDS):
                plans = [paraphrase(seeds[i % len(seeds)], f"init/para{i}") for i in slots]
                found = await gather_or_cancel(
                    [self.breeder.breed(plan, round_ * self.breeder.tries) for plan in plans]
                )
                slots = [i for i, p, c in zip(slots, plans, found) if not self._add(c, p, origin)]
            await self._reask(slots, origin)
        texts = list(origin)
        if len(texts) < size:
            self._shrink(len(texts), size)
        scores = await self._score(texts, 0)
        population = [self._individual(t, scores, 0, origin[t]) for t in texts]
        await self._finish(0, population, len(scores), started, self.state.rng_state)

    def _add(self, child: str | None, plan: Offspring, origin: dict[str, Offspring | None]) -> bool:
        """Add a new distinct prompt to the initial population (False: none or a repeat)."""
        if child is None or child in origin:
            return False
        origin[child] = plan
        self.display.advance()
        return True

    async def _reask(self, slots: list[int], origin: dict[str, Offspring | None]) -> None:
        """Re-ask the empty slots one at a time, each request listing every prompt found so far
        and rewording a different one, so a model deaf to the sampling seed (which repeats its
        answer to the same words) is asked something new."""
        asked = 0
        for round_ in range(SAME_ROUNDS, PARAPHRASE_ROUNDS):
            left = []
            for i in slots:
                texts = list(origin)
                plan = paraphrase_again(texts[asked % len(texts)], texts, f"init/para{i}")
                asked += 1
                child = await self.breeder.breed(plan, first_try=round_ * self.breeder.tries)
                if not self._add(child, plan, origin):
                    left.append(i)
            slots = left

    def _shrink(self, found: int, size: int) -> None:
        """Go on with the distinct prompts found, or stop when the strategy cannot use so few."""
        least = getattr(self.strategy, "min_population", 2)
        algorithm = self.config.algorithm.upper()
        if found < least:
            raise PopulationError(
                f"too few distinct initial prompts: the seed prompts and the model's paraphrases "
                f"of them make {found}, and {algorithm} needs at least {least}; resuming would "
                "get the same answers: start a new experiment with more distinct seed_prompts "
                "or another model"
            )
        self.display.line(
            f"warning: the model gave too few distinct paraphrases of the seed prompts: going "
            f"on with a population of {found} instead of {size}"
        )

    async def _generation(self, generation: int) -> None:
        started = time.monotonic()
        self.recorder.phase_started(generation)
        rng = self.state.rng()
        plans = self.strategy.plan(self.state.population, rng, generation)
        children: list[str | None] = [None] * len(plans)
        bars = self._bars(plans, children)
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
        bars: dict[str, Hurdle] | None,
    ) -> AsyncGenerator[str | None, None]:
        """Breed every plan's child into ``children``, yielding each child to score as soon as
        its operator reply arrives (None: replies that added none), ``bars`` brought up to
        date first, so no slot waits for the slowest reply while children are ready.

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
                if bars is not None:  # replaced, not updated: a child's bar may have gone
                    bars.clear()
                    bars.update(self._bars(plans, children) or {})
                fresh: list[str | None] = []
                for k in sorted(k for k, _ in filter(None, arrived)):
                    child = children[k]
                    if child is not None and child not in joined and self._unscored(child):
                        joined.add(child)
                        fresh.append(child)
                    else:
                        self.display.advance(rows)  # no rows to ask for this plan
                for child in fresh or [None]:
                    yield child
                if None in arrived:
                    return
        finally:
            breeding.cancel()
            await asyncio.gather(breeding, return_exceptions=True)

    def _bars(self, plans: list[Offspring], children: list[str | None]) -> dict[str, Hurdle] | None:
        """Per child bred so far (None in ``children``: none yet, or none usable), the bar it
        must clear to survive (``prune``; None: no pruning). A child with no bar (or a strategy
        that declares none) is scored in full. Until the brood is in, a bar may still change:
        it rises as siblings bred by earlier plans come in (GA's ties), and falls where another
        plan breeds the same child (it survives by clearing any one of their bars): the
        evaluator then goes on scoring a child it had pruned."""
        threshold = getattr(self.strategy, "threshold", None)
        if not self.config.prune or threshold is None:
            return None
        declared = threshold(self.state.population, plans, children, self.config.population_size)
        bars: dict[str, list[Hurdle | None]] = {}
        for child, bar in zip(children, declared):
            if child is not None:
                bars.setdefault(child, []).append(bar)
        chosen: dict[str, Hurdle] = {}
        for text, found in bars.items():
            real = [bar for bar in found if bar is not None]
            if len(real) == len(found):
                chosen[text] = real[0] if len(real) == 1 else AnyOf(tuple(real))
        return chosen

    def _unscored(self, text: str) -> bool:
        """Not scored yet, or only pruned so far (resumed: the journal answers the rows asked)."""
        known = self.state.scored.get(text)
        return known is None or known.pruned

    async def _score(
        self,
        texts: list[str] | AsyncGenerator[str | None, None],
        generation: int,
        bars: dict[str, Hurdle] | None = None,
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

        return await self.evaluator.evaluate(texts, done, save, bars, self._row_tally())

    def _row_tally(self) -> RowTally | None:
        """The state's tally of what prompts lost on each dev row, where pruning can use it
        (started here, or started over when it counts other rows: a fork on another dev set):
        against bars, the rows missed most go first, so a child that will miss its bar is
        pruned after fewer calls (the scores are the same in any order)."""
        if not (self.config.prune and prunable(self.evaluator.metric)):
            return None
        texts = [example.text for example in self.evaluator.examples]
        if self.state.row_tally is None or self.state.row_tally.rows != rows_key(texts):
            self.state.row_tally = RowTally.empty(texts)
        return self.state.row_tally

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
        fitness = [ind.fitness for ind in population]
        born = [ind for ind in state.scored.values() if ind.generation == generation]
        paid = self.evaluator.client.journal.totals()
        row = GenerationRow(
            generation=generation,
            best_fitness=best.fitness,
            mean_fitness=round(sum(fitness) / len(fitness), 6),
            best_prompt=best.text,
            evaluated=evaluated,
            duration_s=round(time.monotonic() - started, 3),
            diversity=diversity([ind.text for ind in population]),
            calls=int(paid["calls"]),
            tokens=int(paid["tokens"]),
            cost_usd=round(paid["cost"], 6),
            pruned_share=round(sum(ind.pruned for ind in born) / len(born), 6) if born else 0.0,
        )
        state.generations.append(row)
        await self.recorder.generation_done(generation)
        self.display.close()
        self.display.line(
            f"generation {generation}: best {best.fitness:.3f}, mean {row.mean_fitness:.3f}, "
            f"{evaluated} prompts scored in {row.duration_s:.1f}s"
        )
