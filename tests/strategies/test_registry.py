"""The registry: lookup by name, registration rules, and plans that repeat from saved state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pytest

from evoprompt.checkpoint.state import ExperimentState, Individual
from evoprompt.config import CHOICES, Config, ConfigError, validate
from evoprompt.strategies.base import Offspring, Operator
from evoprompt.strategies.ga import GeneticAlgorithm
from evoprompt.strategies.registry import (
    STRATEGIES,
    UnknownStrategyError,
    make_strategy,
    operators,
    register_strategy,
)
from tests.strategies.conftest import ind


def test_builtin_strategies_and_operators() -> None:
    assert list(STRATEGIES) == ["ga", "de"] == list(CHOICES["algorithm"])
    assert isinstance(make_strategy("ga"), GeneticAlgorithm)
    assert list(operators()) == ["ga", "de", "paraphrase", "paraphrase_again"]
    assert operators()["de"].placeholders == {"donor1", "donor2", "differences", "best", "base"}


def test_unknown_strategy_names_the_known_ones() -> None:
    with pytest.raises(UnknownStrategyError, match=r"'pso'; known strategies: ga, de$"):
        make_strategy("pso")


class Copy:
    """A strategy that keeps the population as it is."""

    operators: ClassVar[tuple[Operator, ...]] = (
        Operator("copy", frozenset({"prompt"}), "{prompt}", "{prompt}"),
    )

    def plan(
        self, population: Sequence[Individual], rng: np.random.Generator, generation: int
    ) -> list[Offspring]:
        return []

    def select(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[Individual | None],
        size: int,
    ) -> list[Individual]:
        return list(population)


def test_a_registered_strategy_is_a_valid_algorithm() -> None:
    with pytest.raises(ConfigError, match="must be one of ga, de"):
        validate(Config(algorithm="copy"))
    register_strategy("copy")(Copy)
    assert validate(Config(algorithm="copy")).algorithm == "copy"
    assert isinstance(make_strategy("copy"), Copy)
    assert "copy" in operators()


def test_names_and_operator_names_are_registered_once() -> None:
    with pytest.raises(ValueError, match="strategy 'ga' is already registered"):
        register_strategy("ga")(Copy)

    class Stealer(Copy):
        operators = GeneticAlgorithm.operators

    with pytest.raises(ValueError, match="operator 'ga' already exists"):
        register_strategy("stealer")(Stealer)
    assert "stealer" not in STRATEGIES


def plan_texts(plans: list[Offspring]) -> list[tuple[str, ...]]:
    return [plan.parents for plan in plans]


@pytest.mark.parametrize("name", ["ga", "de"])
def test_plans_repeat_from_the_same_generator_state(name: str) -> None:
    population = [ind(f"prompt {i}", (i % 3) / 3) for i in range(6)]
    state = ExperimentState.new("exp", seed=42)
    strategy = make_strategy(name)
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

    other = make_strategy(name).plan(population, ExperimentState.new("exp", 43).rng(), 1)
    assert plan_texts(other) != plan_texts(first)
