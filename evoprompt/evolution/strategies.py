"""The two EvoPrompt algorithms as small strategies behind one protocol.

A strategy *plans* a generation (drawing every random choice up front, from the experiment's
generator, before any LLM call) and then *selects* survivors once children are scored. Keeping
the draws out of the asynchronous part makes the choices independent of answer timing, which is
what lets a resumed run repeat an uninterrupted one exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from evoprompt.core.state import Individual
from evoprompt.evolution.operators import Offspring
from evoprompt.evolution.selection import distinct_others, roulette
from evoprompt.evolution.templates import differing_parts


class Strategy(Protocol):
    name: str

    def plan(
        self, population: Sequence[Individual], rng: np.random.Generator, generation: int
    ) -> list[Offspring]: ...

    def select(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[Individual | None],
        size: int,
    ) -> list[Individual]: ...


def ranked(candidates: Sequence[Individual]) -> list[Individual]:
    """Best first; ties keep their order (parents before children), so ranking is stable."""
    return sorted(candidates, key=lambda ind: -ind.fitness)


class GeneticAlgorithm:
    """Roulette-wheel parents, one crossover+mutation call per child, elitist survival."""

    name = "ga"

    def plan(
        self, population: Sequence[Individual], rng: np.random.Generator, generation: int
    ) -> list[Offspring]:
        fitness = [ind.fitness for ind in population]
        plans = []
        for i in range(len(population)):
            a, b = roulette(rng, fitness)
            p1, p2 = population[a].text, population[b].text
            plans.append(
                Offspring(
                    "ga", {"prompt1": p1, "prompt2": p2}, (p1, p2), f"gen{generation}/child{i}"
                )
            )
        return plans

    def select(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[Individual | None],
        size: int,
    ) -> list[Individual]:
        pool: dict[str, Individual] = {}
        for ind in [*population, *children]:
            if ind is not None and ind.text not in pool:
                pool[ind.text] = ind
        return ranked(list(pool.values()))[:size]


class DifferentialEvolution:
    """Per individual: two random donors' differences + the best prompt -> a trial prompt,
    which replaces the individual if it scores at least as well."""

    name = "de"

    def plan(
        self, population: Sequence[Individual], rng: np.random.Generator, generation: int
    ) -> list[Offspring]:
        best = ranked(population)[0].text
        plans = []
        for i, ind in enumerate(population):
            b, c = distinct_others(rng, len(population), i)
            d1, d2 = population[b].text, population[c].text
            values = {
                "donor1": d1,
                "donor2": d2,
                "differences": differing_parts(d1, d2),
                "best": best,
                "base": ind.text,
            }
            plans.append(
                Offspring(
                    "de", values, (ind.text, d1, d2, best), f"gen{generation}/child{i}", slot=i
                )
            )
        return plans

    def select(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[Individual | None],
        size: int,
    ) -> list[Individual]:
        survivors = list(population)
        for plan, trial in zip(plans, children):
            if trial is not None and plan.slot is not None:
                survivors[plan.slot] = replace_if_not_worse(survivors[plan.slot], trial)
        return survivors


def replace_if_not_worse(current: Individual, trial: Individual) -> Individual:
    return trial if trial.fitness >= current.fitness else current


STRATEGIES: dict[str, type[GeneticAlgorithm] | type[DifferentialEvolution]] = {
    "ga": GeneticAlgorithm,
    "de": DifferentialEvolution,
}
