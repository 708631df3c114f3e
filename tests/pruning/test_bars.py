"""The bars children are pruned against: each must agree with the selection it stands for."""

from __future__ import annotations

import numpy as np

from evoprompt.checkpoint.state import Individual
from evoprompt.pruning.bars import AnyOf, Bar, Seats
from evoprompt.strategies.ga import GeneticAlgorithm


def test_a_fixed_bar_and_its_tie_rule() -> None:
    assert Bar(0.5, ties=True).clears(0.5, {}) and not Bar(0.5, ties=False).clears(0.5, {})
    assert Bar(0.5, ties=False).floor({"x": 0.9}) == 0.5


def test_seats_count_parents_on_ties_and_earlier_siblings_on_ties() -> None:
    seats = Seats(2, fixed=(0.8, 0.6), before=frozenset({"early"}))
    assert seats.clears(0.6, {}) is False  # both parents rank ahead: 0.8 > and 0.6 on the tie
    assert seats.clears(0.61, {}) is True
    assert seats.clears(0.61, {"late": 0.61}) is True  # a later sibling loses the tie
    assert seats.clears(0.61, {"early": 0.61}) is False  # an earlier one wins it
    assert seats.floor({}) == 0.6 and seats.floor({"late": 0.7}) == 0.7
    assert Seats(3, (0.8,), frozenset()).floor({}) == float("-inf")  # seats left over


def test_any_of_clears_when_one_bar_does() -> None:
    both = AnyOf((Bar(0.9, ties=True), Bar(0.4, ties=False)))
    assert both.clears(0.5, {}) and not both.clears(0.4, {}) and both.floor({}) == 0.4


def test_ga_bars_agree_with_ga_selection() -> None:
    """For random fitnesses: a child its bar rules out (given the siblings finished before
    it) is never among the survivors, and one it lets through is whenever it would be."""
    ga, rng = GeneticAlgorithm(), np.random.default_rng(0)
    levels = [0.25, 0.5, 0.75, 1.0]
    for _ in range(300):
        parents = [Individual(f"p{i}", float(rng.choice(levels)), 0) for i in range(4)]
        texts = [f"c{i}" for i in range(4)]
        kids = [Individual(t, float(rng.choice(levels)), 1) for t in texts]
        plans = ga.plan(parents, rng, 1)
        bars = ga.threshold(parents, plans, texts, 4)
        survivors = {ind.text for ind in ga.select(parents, plans, kids, 4)}
        for kid, bar in zip(kids, bars):
            assert bar is not None
            others = {k.text: k.fitness for k in kids if k is not kid}
            assert bar.clears(kid.fitness, others) == (kid.text in survivors)
