"""Roulette-wheel and DE donor selection: arithmetic and empirical frequencies."""

from __future__ import annotations

import numpy as np
import pytest

from evoprompt.strategies.selection import distinct_others, roulette, roulette_probabilities


def test_probabilities_are_proportional_to_fitness() -> None:
    probs = roulette_probabilities([0.2, 0.6, 0.2])
    assert probs.sum() == pytest.approx(1.0)
    assert probs == pytest.approx([0.2, 0.6, 0.2], abs=1e-5)
    assert probs[1] / probs[0] == pytest.approx(3.0, rel=1e-4)


def test_zero_fitness_keeps_a_small_floor() -> None:
    probs = roulette_probabilities([0.0, 1.0, 0.0])
    assert 0 < probs[0] < 1e-5 and probs[0] == probs[2]
    assert probs[1] == pytest.approx(1.0, abs=1e-5)
    # All zero: uniform, not a division by zero.
    assert roulette_probabilities([0.0] * 4) == pytest.approx([0.25] * 4)


def test_roulette_frequencies_match_the_wheel() -> None:
    """First picks follow the wheel; with k=1 every draw is one spin."""
    fitness = [0.1, 0.2, 0.3, 0.4]
    rng = np.random.default_rng(123)
    draws = 8_000
    counts = np.bincount([roulette(rng, fitness, k=1)[0] for _ in range(draws)], minlength=4)
    assert counts / draws == pytest.approx(roulette_probabilities(fitness), abs=0.015)


def test_roulette_pair_frequencies_follow_sampling_without_replacement() -> None:
    """First parent ~ p; second ~ sum_i p_i * p_j / (1 - p_i) over i != j."""
    fitness = [0.5, 0.3, 0.2]
    p = roulette_probabilities(fitness)
    rng = np.random.default_rng(7)
    draws = 8_000
    firsts, seconds = np.zeros(3), np.zeros(3)
    for _ in range(draws):
        a, b = roulette(rng, fitness)
        firsts[a] += 1
        seconds[b] += 1
    expected_second = [sum(p[i] * p[j] / (1 - p[i]) for i in range(3) if i != j) for j in range(3)]
    assert firsts / draws == pytest.approx(p, abs=0.02)
    assert seconds / draws == pytest.approx(expected_second, abs=0.02)


def test_roulette_always_returns_two_distinct_parents() -> None:
    rng = np.random.default_rng(0)
    for fitness in ([0.0, 0.9], [0.0, 0.0, 1.0], [0.5] * 5, [0.0, 0.0]):
        for _ in range(200):
            a, b = roulette(rng, fitness)
            assert a != b and 0 <= a < len(fitness) and 0 <= b < len(fitness)


def test_roulette_is_reproducible_from_the_seed() -> None:
    fitness = [0.3, 0.1, 0.4, 0.2]
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert [roulette(rng_a, fitness) for _ in range(50)] == [
        roulette(rng_b, fitness) for _ in range(50)
    ]


@pytest.mark.parametrize("size", [3, 4, 10])
def test_distinct_others_never_returns_the_excluded_index(size: int) -> None:
    rng = np.random.default_rng(size)
    seen: set[int] = set()
    for exclude in range(size):
        for _ in range(100):
            b, c = distinct_others(rng, size, exclude)
            assert b != c and exclude not in (b, c)
            assert 0 <= b < size and 0 <= c < size
            seen.update((b, c))
    assert seen == set(range(size))


def test_distinct_others_is_uniform() -> None:
    rng = np.random.default_rng(1)
    draws = 6_000
    counts = np.zeros(5)
    for _ in range(draws):
        for i in distinct_others(rng, 5, exclude=2):
            counts[i] += 1
    assert counts[2] == 0
    assert counts[[0, 1, 3, 4]] / (2 * draws) == pytest.approx([0.25] * 4, abs=0.02)
