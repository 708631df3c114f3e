"""GA: elitist survivor selection and roulette plans."""

from __future__ import annotations

import numpy as np

from evoprompt.checkpoint.state import Individual
from evoprompt.strategies.base import ranked
from evoprompt.strategies.ga import GeneticAlgorithm
from tests.strategies.conftest import POPULATION, ind


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
        assert plan.operator == "ga" and plan.site == f"gen0/child{i}"
