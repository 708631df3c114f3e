"""The generation loop: initial population, then plan, breed, score, select; saving as it goes.

The engine owns the order of events that makes resume exact:

1. random choices are drawn from the state's generator before any call of a generation;
2. each evaluated batch is saved as it completes (batch file + latest.json);
3. at the end of a generation the whole state, generator included, goes to state.pkl.

A resumed run re-enters the interrupted generation from the last state.pkl; its calls are
answered by the journal and its finished batches by their files, so it pays for nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt._async import gather_or_cancel
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import Config
from evoprompt.core.result import write_results
from evoprompt.core.state import ExperimentState, Individual
from evoprompt.display import Display
from evoprompt.evaluation.evaluator import Evaluator, Score
from evoprompt.evolution.operators import Breeder, Offspring
from evoprompt.evolution.strategies import Strategy

PARAPHRASE_ROUNDS = 3


class PopulationError(RuntimeError):
    """The operator model could not produce enough distinct initial prompts."""


@dataclass
class Cursor:
    generation: int = 0
    batches_done: int = 0


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
        exp_dir: Path,
        display: Display,
        stats: Callable[[], dict[str, Any]],
    ):
        self.config = config
        self.state = state
        self.evaluator = evaluator
        self.breeder = breeder
        self.strategy = strategy
        self.store = store
        self.exp_dir = exp_dir
        self.display = display
        self.stats = stats  # api_stats, read from the journal
        self.cursor = Cursor(state.generation + 1, 0)
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")

    async def run(self) -> ExperimentState:
        if self.state.generation < 0:
            await self._initial_population()
        while self.state.generation < self.config.max_generations:
            await self._generation(self.state.generation + 1)
        await self._io_call(self._save_stop, "finished", self.stats())
        return self.state

    # -- phases ----------------------------------------------------------------------------

    async def _initial_population(self) -> None:
        started = time.monotonic()
        self.cursor = Cursor(0, 0)
        size = self.config.population_size
        texts = list(dict.fromkeys(" ".join(p.split()) for p in self.config.seed_prompts))[:size]
        origin: dict[str, Offspring | None] = dict.fromkeys(texts)
        seeds = list(texts)
        slots = list(range(size - len(texts)))
        if slots:
            self.display.phase("gen 0: paraphrasing seed prompts", len(slots))
        for round_ in range(PARAPHRASE_ROUNDS):
            if not slots:
                break
            plans = {
                i: Offspring(
                    "paraphrase",
                    {"prompt": seeds[i % len(seeds)]},
                    (seeds[i % len(seeds)],),
                    f"init/para{i}",
                )
                for i in slots
            }
            tries = self.breeder.tries
            found = await gather_or_cancel(
                [self.breeder.breed(plans[i], first_try=round_ * tries) for i in slots]
            )
            left = []
            for i, child in zip(slots, found):
                if child is None or child in origin:
                    left.append(i)
                else:
                    origin[child] = plans[i]
                    texts.append(child)
                    self.display.advance()
            slots = left
        if slots:
            raise PopulationError(
                f"the model gave no usable distinct paraphrase for {len(slots)} initial prompts; "
                "add more seed_prompts to the config"
            )
        scores = await self._score(texts, 0)
        population = [self._individual(t, scores, 0, origin[t]) for t in texts]
        await self._finish(0, population, len(scores), started, self.state.rng_state)

    async def _generation(self, generation: int) -> None:
        started = time.monotonic()
        self.cursor = Cursor(generation, 0)
        rng = self.state.rng()
        plans = self.strategy.plan(self.state.population, rng, generation)
        self.display.phase(f"gen {generation}: breeding", len(plans))

        async def breed(plan: Offspring) -> str | None:
            child = await self.breeder.breed(plan)
            self.display.advance()
            return child

        children = await gather_or_cancel([breed(plan) for plan in plans])
        usable = [c for c in children if c is not None]
        if len(usable) < len(children):
            self.display.line(
                f"gen {generation}: {len(children) - len(usable)} operator replies "
                "had no usable <prompt> child and were dropped"
            )
        scores = await self._score(usable, generation)
        offspring = [
            None if child is None else self._individual(child, scores, generation, plan)
            for plan, child in zip(plans, children)
        ]
        for child in offspring:  # losers too: population.jsonl lists every prompt scored
            if child is not None:
                self.state.scored.setdefault(child.text, child)
        survivors = self.strategy.select(
            self.state.population, plans, offspring, self.config.population_size
        )
        await self._finish(generation, survivors, len(scores), started, rng.bit_generator.state)

    async def _score(self, texts: list[str], generation: int) -> dict[str, Score]:
        new = [t for t in dict.fromkeys(texts) if t not in self.state.scored]
        done = self.store.load_batches(generation, new, self.evaluator.batches())
        self.cursor.batches_done = len(done)
        total = self.evaluator.requests_needed(new, done)
        self.display.phase(f"gen {generation}: scoring {len(new)} prompts", total)

        async def save(batch_idx: int, doc: dict[str, Any]) -> None:
            self.cursor.batches_done += 1
            await self._io_call(self._save_batch, generation, batch_idx, doc)

        return await self.evaluator.evaluate(new, done, save)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _individual(
        self, text: str, scores: dict[str, Score], generation: int, plan: Offspring | None
    ) -> Individual:
        if text in self.state.scored:
            return self.state.scored[text]
        score = scores[text]
        return Individual(
            text=text,
            fitness=score.fitness,
            generation=generation,
            parents=plan.parents if plan else (),
            operator=plan.operator if plan else "seed",
            analysis=score.analysis,
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
        state.generations.append(
            {
                "generation": generation,
                "best_fitness": best.fitness,
                "mean_fitness": round(sum(fitness) / len(fitness), 6),
                "best_prompt": best.text,
                "evaluated": evaluated,
                "duration_s": round(time.monotonic() - started, 3),
            }
        )
        self.cursor = Cursor(generation + 1, 0)
        await self._io_call(self._save_generation, generation, self.stats())
        self.display.close()
        self.display.line(
            f"generation {generation}: best {best.fitness:.3f}, mean "
            f"{state.generations[-1]['mean_fitness']:.3f}, {evaluated} prompts scored "
            f"in {state.generations[-1]['duration_s']:.1f}s"
        )

    def _descriptor(self, stage: str) -> dict[str, Any]:
        best = self.state.best()
        return {
            "experiment_id": self.state.experiment_id,
            "generation": self.cursor.generation,
            "batch_idx": self.cursor.batches_done,
            "num_individuals": len(self.state.population),
            "best_fitness": best.fitness if best else None,
            "metadata": {"stage": stage, "completed_generation": self.state.generation},
        }

    def _save_batch(self, generation: int, batch_idx: int, doc: dict[str, Any]) -> None:
        self.store.save_batch(generation, batch_idx, doc)
        self.store.save_cursor(**self._descriptor(f"generation_{generation}_batch_{batch_idx}"))

    def _save_generation(self, generation: int, stats: dict[str, Any]) -> None:
        fields = self._descriptor(f"generation_{generation}_complete")
        self.store.save_state(self.state, history_of=generation, **fields)
        write_results(self.exp_dir, self.state, "running", stats)
        if generation and generation % self.config.cleanup_every == 0:
            self.store.cleanup(generation, self.config.keep_last_n)

    def _save_stop(self, stage: str, stats: dict[str, Any]) -> dict[str, Any]:
        """Record why the run stopped (finished, interrupted, error) in latest and summary."""
        self.store.save_cursor(**self._descriptor(stage))
        status = {
            "finished": "finished",
            "interrupted": "interrupted",
            "budget_exhausted": "interrupted",
        }.get(stage, "error")
        return write_results(self.exp_dir, self.state, status, stats)

    def save_stop(self, stage: str) -> dict[str, Any]:
        """Synchronous stop save for the runner's exception paths (after the loop is gone)."""
        self._io.shutdown(wait=True)
        return self._save_stop(stage, self.stats())

    async def _io_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run checkpoint I/O on the single writer thread: ordered, and off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)
