"""The verdict's statistics against cases worked out by hand."""

from __future__ import annotations

import pytest

from evoprompt.stats import (
    bootstrap_interval,
    interval,
    mcnemar_exact,
    mcnemar_interval,
    paired_test,
    permutation_interval,
    permutation_test,
    wilson_interval,
)


def test_wilson_interval_matches_the_textbook_values() -> None:
    # 8 of 10: p = 0.8, z = 1.96 -> centre (0.8 + 0.19208) / 1.38416, half-width
    # 1.96 * sqrt(0.016 + 0.0096040) / 1.38416 = [0.4902, 0.9433].
    ci = wilson_interval(8, 10)
    assert ci.estimate == 0.8
    assert ci.low == pytest.approx(0.4902, abs=1e-4)
    assert ci.high == pytest.approx(0.9433, abs=1e-4)
    # 0 of 10 still has a non-degenerate upper bound: z^2 / (n + z^2) = 3.8416 / 13.8416.
    none = wilson_interval(0, 10)
    assert none.low == pytest.approx(0.0, abs=1e-12)
    assert none.high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0).high == 1.0


def test_mcnemar_exact_on_discordant_pairs() -> None:
    # A right / B wrong on 8 rows, the reverse on 2: p = 2 * P(X <= 2 | n=10, 1/2)
    # = 2 * (1 + 10 + 45) / 1024 = 0.109375.
    a = [1] * 8 + [0] * 2 + [1] * 5 + [0] * 5
    b = [0] * 8 + [1] * 2 + [1] * 5 + [0] * 5
    assert mcnemar_exact(a, b) == pytest.approx(0.109375)
    # 3 discordant pairs, all one way: 2 * (1/2)^3 = 0.25; concordant pairs do not count.
    assert mcnemar_exact([1, 1, 1, 1, 0], [0, 0, 0, 1, 0]) == pytest.approx(0.25)
    # 10 - 0: 2 / 1024.
    assert mcnemar_exact([1] * 10, [0] * 10) == pytest.approx(2 / 1024)


def test_zero_discordance_gives_p_one_and_a_zero_difference() -> None:
    a = [1, 0, 1, 1, 0, 0]
    assert mcnemar_exact(a, a) == 1.0
    same = paired_test(a, a, binary=True, seed=1)
    assert (same.delta, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert same.method == "mcnemar-exact"


def test_permutation_test_is_exact_when_small_ties_included() -> None:
    # Three rows differ by +0.5 each, the other rows tie: of the 2^3 sign patterns only
    # all-plus and all-minus reach |mean| >= the observed one: p = 2/8.
    a = [0.9, 0.8, 0.7, 0.3, 0.3]
    b = [0.4, 0.3, 0.2, 0.3, 0.3]
    assert permutation_test(a, b, seed=0) == pytest.approx(0.25)
    # Differences +1 and -1 cancel: every pattern is as extreme as the observed 0: p = 1.
    assert permutation_test([1.0, 0.0], [0.0, 1.0], seed=0) == pytest.approx(1.0)
    # Differences 0.2, 0.2, -0.1 (observed sum 0.3): |sum| >= 0.3 for the patterns that keep
    # both 0.2s on one side, (+,+,+/-) and their mirrors: 4 of 8.
    assert permutation_test([0.5, 0.5, 0.4], [0.3, 0.3, 0.5], seed=0) == pytest.approx(0.5)
    assert permutation_test([0.2, 0.4], [0.2, 0.4], seed=0) == 1.0


def test_permutation_test_is_seeded_monte_carlo_when_large() -> None:
    a = [0.1 * (i % 7) for i in range(60)]
    b = [0.1 * (i % 5) for i in range(60)]
    first = permutation_test(a, b, seed=3)
    assert first == permutation_test(a, b, seed=3)
    assert 0.0 < first <= 1.0


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean() -> None:
    scores = [0.2, 0.9, 0.4, 0.7, 0.55, 0.35, 0.8, 0.1]
    ci = bootstrap_interval(scores, seed=7)
    assert ci == bootstrap_interval(scores, seed=7)
    assert ci.estimate == pytest.approx(sum(scores) / len(scores))
    assert 0.1 <= ci.low < ci.estimate < ci.high <= 0.9
    assert bootstrap_interval([0.5, 0.5, 0.5], seed=7) == bootstrap_interval([0.5], seed=7)
    assert bootstrap_interval([0.5, 0.5, 0.5], seed=7).low == 0.5


def test_interval_picks_wilson_for_binary_and_bootstrap_otherwise() -> None:
    binary = interval([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], binary=True, seed=0)
    assert (binary.low, binary.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    continuous = interval([0.2, 0.9, 0.4, 0.7], binary=False, seed=0)
    assert continuous == bootstrap_interval([0.2, 0.9, 0.4, 0.7], seed=0)


def test_paired_test_of_a_continuous_metric() -> None:
    a = [0.9, 0.8, 0.7, 0.6, 0.9]
    b = [0.4, 0.3, 0.2, 0.6, 0.5]
    result = paired_test(a, b, binary=False, seed=5)
    assert result.method == "permutation"
    assert result.delta == pytest.approx(0.38)
    assert result.low <= result.delta <= result.high
    # 4 rows differ, all the same way: 2 of 16 sign patterns are as extreme.
    assert result.p_value == pytest.approx(2 / 16)
    with pytest.raises(ValueError, match="differ in length"):
        paired_test([1.0], [1.0, 0.0], binary=False, seed=0)


def _paired_binary(only_a: int, only_b: int, both: int = 10) -> tuple[list[int], list[int]]:
    """Paired 0/1 outcomes with the given discordant counts and ``both`` concordant rows."""
    a = [1] * only_a + [0] * only_b + [1] * (both // 2) + [0] * (both - both // 2)
    b = [0] * only_a + [1] * only_b + [1] * (both // 2) + [0] * (both - both // 2)
    return a, b


@pytest.mark.parametrize(
    ("only_a", "only_b", "both"),
    # p straddles 0.05 on either side: 9-2 (p=0.065: the paired bootstrap printed before
    # gave [+0.06, +0.75] beside it), 10-2 (p=0.039), 15-6 (p=0.078), 16-5 (p=0.027), the
    # same reversed, 14-6 on 97 rows, and no discordant row at all.
    [
        (9, 2, 5),
        (10, 2, 5),
        (15, 6, 20),
        (16, 5, 20),
        (2, 9, 5),
        (2, 10, 5),
        (14, 6, 77),
        (0, 0, 8),
    ],
)
def test_the_binary_interval_holds_zero_exactly_when_the_test_is_not_significant(
    only_a: int, only_b: int, both: int
) -> None:
    a, b = _paired_binary(only_a, only_b, both)
    result = paired_test(a, b, binary=True, seed=0)
    assert result.delta == pytest.approx((only_a - only_b) / len(a))
    assert result.low <= result.delta <= result.high
    assert (result.low <= 0.0 <= result.high) == (result.p_value >= 0.05)


def test_the_binary_interval_is_clopper_pearson_on_the_discordant_rows() -> None:
    # 8 of 10 discordant rows won by A, 20 rows in all: the exact interval of pi is
    # [0.4439, 0.9748] (Clopper-Pearson), so delta = 0.5 * (2 pi - 1) in [-0.0561, 0.4748].
    a, b = _paired_binary(8, 2, 10)
    ci = mcnemar_interval(a, b)
    assert ci.estimate == pytest.approx(0.3)
    assert ci.low == pytest.approx(0.5 * (2 * 0.443904 - 1), abs=1e-5)
    assert ci.high == pytest.approx(0.5 * (2 * 0.974788 - 1), abs=1e-5)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.1, 0.15, 0.2, 0.3])
def test_the_continuous_interval_holds_zero_exactly_when_the_test_is_not_significant(
    shift: float,
) -> None:
    # Twelve rows whose differences centre on ``shift``: from no gain to a clear one, through
    # the cases where the permutation p crosses 0.05.
    spread = [-0.25, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25, -0.15, 0.3]
    a = [0.5 + shift + d for d in spread]
    b = [0.5] * len(spread)
    result = paired_test(a, b, binary=False, seed=4)
    assert result.low <= result.delta <= result.high
    assert (result.low <= 0.0 <= result.high) == (result.p_value >= 0.05)
    assert result.p_value == permutation_test(a, b, seed=4)


def test_a_permutation_interval_is_the_set_of_shifts_the_test_accepts() -> None:
    a = [0.9, 0.7, 0.8, 0.95, 0.6, 0.85, 0.75, 0.9]
    b = [0.5, 0.6, 0.4, 0.7, 0.55, 0.5, 0.65, 0.45]
    ci = permutation_interval(a, b, seed=1)
    diffs = [x - y for x, y in zip(a, b)]
    inside = [d - (ci.low + ci.high) / 2 for d in diffs]
    # The middle of the interval is accepted; just beyond either bound is rejected.
    assert permutation_test(inside, [0.0] * len(a), seed=1) >= 0.05
    for beyond in (ci.low - 1e-3, ci.high + 1e-3):
        shifted = [d - beyond for d in diffs]
        assert permutation_test(shifted, [0.0] * len(a), seed=1) < 0.05
