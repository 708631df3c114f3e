"""Parent selection strategies, drawing only from the experiment's own generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_FLOOR = 1e-6


def roulette_probabilities(fitness: Sequence[float]) -> npt.NDArray[np.float64]:
    """Selection probability proportional to fitness.

    A tiny floor keeps zero-fitness prompts selectable, so two distinct parents can always be
    drawn even when only one prompt has scored above zero.
    """
    weights = np.asarray(fitness, dtype=np.float64) + _FLOOR
    probabilities: npt.NDArray[np.float64] = weights / weights.sum()
    return probabilities


def roulette(rng: np.random.Generator, fitness: Sequence[float], k: int = 2) -> tuple[int, ...]:
    """Draw ``k`` distinct indices by roulette wheel."""
    picks = rng.choice(len(fitness), size=k, replace=False, p=roulette_probabilities(fitness))
    return tuple(int(i) for i in picks)


def distinct_others(
    rng: np.random.Generator, size: int, exclude: int, k: int = 2
) -> tuple[int, ...]:
    """Draw ``k`` distinct indices uniformly, none equal to ``exclude`` (DE's donors)."""
    others = [i for i in range(size) if i != exclude]
    return tuple(int(i) for i in rng.choice(others, size=k, replace=False))
