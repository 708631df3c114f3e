"""Shared population for the strategy tests, and a registry restored after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evoprompt.checkpoint.state import Individual
from evoprompt.strategies.registry import STRATEGIES


def ind(text: str, fitness: float, generation: int = 0) -> Individual:
    return Individual(text, fitness, generation)


POPULATION = [ind("p0", 0.5), ind("p1", 0.25), ind("p2", 0.75), ind("p3", 0.0)]


@pytest.fixture(autouse=True)
def restore_registry() -> Iterator[None]:
    """Strategies a test registers are gone afterwards (the registry is process-wide)."""
    saved = dict(STRATEGIES)
    yield
    STRATEGIES.clear()
    STRATEGIES.update(saved)
