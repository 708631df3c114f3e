"""GA and DE: survivor selection rules and reproducible plans."""

from __future__ import annotations

import numpy as np
import pytest

from evoprompt.core.state import ExperimentState, Individual
from evoprompt.evolution.operators import Offspring
from evoprompt.evolution.strategies import (
    STRATEGIES,
    DifferentialEvolution,
    GeneticAlgorithm,
    ranked,
    replace_if_not_worse,
)
from evoprompt.evolution.templates import differing_parts


def ind(text: str, fitness: float, generation: int = 0) -> Individual:
    return Individual(text, fitness, generation)


POPULATION = [ind("p0", 0.5), ind("p1", 0.25), ind("p2", 0.75), ind("p3", 0.0)]


# -- DE ---------------------------------------------------------------------------------------


def test_trial_replaces_when_equal_or_better_not_when_worse() -> None:
    current = ind("old", 0.5)
    assert replace_if_not_worse(current, ind("same", 0.5)).text == "same"
    assert replace_if_not_worse(current, ind("better", 0.51)).text == "better"
    assert replace_if_not_worse(current, ind("worse", 0.49)) is current


def test_de_select_applies_the_rule_per_slot() -> None:
    de = DifferentialEvolution()
    plans = de.plan(POPULATION, np.random.default_rng(0), generation=1)
    trials: list[Individual | None] = [
        ind("t0", 0.5, 1),  # equal -> replaces p0
        ind("t1", 0.1, 1),  # worse -> p1 stays
        None,  # no usable child -> p2 stays
        ind("t3", 0.9, 1),  # better -> replaces p3
    ]
    survivors = de.select(POPULATION, plans, trials, size=4)
    assert [s.text for s in survivors] == ["t0", "p1", "p2", "t3"]
    assert [s.text for s in POPULATION] == ["p0", "p1", "p2", "p3"]  # input untouched


def test_de_plan_shape() -> None:
    plans = DifferentialEvolution().plan(POPULATION, np.random.default_rng(3), generation=2)
    assert [p.slot for p in plans] == [0, 1, 2, 3]
    assert [p.site for p in plans] == [f"gen2/child{i}" for i in range(4)]
    for i, plan in enumerate(plans):
        values = plan.values
        assert values["base"] == POPULATION[i].text and values["best"] == "p2"
        assert POPULATION[i].text not in (values["donor1"], values["donor2"])
        assert values["donor1"] != values["donor2"]
        assert values["differences"] == differing_parts(values["donor1"], values["donor2"])
        assert plan.parents == (values["base"], values["donor1"], values["donor2"], "p2")


# -- GA ---------------------------------------------------------------------------------------


def test_ga_select_keeps_the_best_without_duplicates() -> None:
    children: list[Individual | None] = [
        ind("c0", 0.9, 1),
        ind("p2", 0.75, 1),  # a child equal to a parent: counted once
        None,
        ind("c3", 0.1, 1),
    ]
    survivors = GeneticAlgorithm().select(POPULATION, [], children, size=4)
    assert [s.text for s in survivors] == ["c0", "p2", "p0", "p1"]
    assert survivors[1].generation == 0  # the parent's record, seen first, is kept
    assert len({s.text for s in survivors}) == len(survivors)


def test_ga_select_is_stable_on_ties() -> None:
    parents = [ind("a", 0.5), ind("b", 0.5)]
    children: list[Individual | None] = [ind("c", 0.5, 1), ind("d", 0.5, 1)]
    survivors = GeneticAlgorithm().select(parents, [], children, size=3)
    assert [s.text for s in survivors] == ["a", "b", "c"]
    assert [s.text for s in ranked([ind("x", 0.1), ind("y", 0.2), ind("z", 0.1)])] == [
        "y",
        "x",
        "z",
    ]


def test_ga_select_with_fewer_unique_candidates_than_size() -> None:
    parents = [ind("a", 0.5), ind("b", 0.4)]
    survivors = GeneticAlgorithm().select(parents, [], [ind("a", 0.9, 1), None], size=3)
    assert [s.text for s in survivors] == ["a", "b"]
    assert survivors[0].fitness == 0.5


def test_ga_plan_draws_two_distinct_parents_per_child() -> None:
    plans = GeneticAlgorithm().plan(POPULATION, np.random.default_rng(11), generation=0)
    assert len(plans) == len(POPULATION)
    for i, plan in enumerate(plans):
        p1, p2 = plan.values["prompt1"], plan.values["prompt2"]
        assert p1 != p2 and plan.parents == (p1, p2)
        assert plan.operator == "ga" and plan.site == f"gen0/child{i}" and plan.slot is None


# -- reproducibility ------------------------------------------------------------------------


def plan_texts(plans: list[Offspring]) -> list[tuple[str, ...]]:
    return [plan.parents for plan in plans]


@pytest.mark.parametrize("name", ["ga", "de"])
def test_plans_repeat_from_the_same_generator_state(name: str) -> None:
    population = [ind(f"prompt {i}", (i % 3) / 3) for i in range(6)]
    state = ExperimentState.new("exp", seed=42)
    strategy = STRATEGIES[name]()
    first = strategy.plan(population, state.rng(), generation=1)
    assert plan_texts(first) == plan_texts(strategy.plan(population, state.rng(), 1))

    # An uninterrupted run: generations 1 and 2 drawn from one generator.
    rng = state.rng()
    strategy.plan(population, rng, generation=1)
    uninterrupted = strategy.plan(population, rng, generation=2)

    # A resumed run: the state saved after generation 1 is restored into a new generator.
    rng = state.rng()
    strategy.plan(population, rng, generation=1)
    state.rng_state = rng.bit_generator.state
    resumed = strategy.plan(population, state.rng(), generation=2)
    assert plan_texts(resumed) == plan_texts(uninterrupted)
    assert plan_texts(resumed) != plan_texts(first)  # the generator did move on

    other = STRATEGIES[name]().plan(population, ExperimentState.new("exp", 43).rng(), 1)
    assert plan_texts(other) != plan_texts(first)
