"""Intervals for one prompt's test score and paired tests of two prompts on the same rows.

0/1 scores (a metric whose ``binary`` flag is set) get the Wilson interval and the exact
McNemar test (a binomial test on the discordant pairs); continuous scores get a percentile
bootstrap interval and a paired permutation test (sign flips of the differences, exact when
there are few of them). The paired difference gets the interval that inverts the test printed
beside it, so the two can never disagree: an interval holds 0 exactly when p >= 0.05. For 0/1
scores that is the exact conditional interval of McNemar's test (Clopper-Pearson on the share
of discordant rows A wins, scaled to the difference); otherwise the shifts d for which the
same permutation test does not reject "A - B - d is symmetric about 0". Everything random is
seeded, so the same scores always give the same figures (a resumed run reproduces its summary
exactly).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 9999
EXACT_UP_TO = 2**14  # sign-flip patterns enumerated exactly; beyond, seeded Monte Carlo
SHIFT_STEPS = 40  # bisection steps per bound of a permutation interval (span / 2**40)


def _stats() -> Any:
    """scipy.stats, imported on first use: it takes over a second to import, which every run
    would otherwise pay at start-up (before its first checkpoint) for a phase at its end."""
    from scipy import stats

    return stats


def preload() -> None:
    """Import scipy.stats in a background thread, so the verdict at a run's end does not wait
    1-2 s for it: called when a test phase starts, whose scoring mostly waits on the endpoint.
    A later ``_stats()`` that comes first simply waits on the import lock."""
    threading.Thread(target=_stats, name="preload-scipy-stats", daemon=True).start()


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedTest:
    """A - B on the same rows: mean difference, its bootstrap interval, a two-sided p-value."""

    delta: float
    low: float
    high: float
    p_value: float
    method: str  # "mcnemar-exact" or "permutation"


def _array(scores: Sequence[float]) -> np.ndarray:
    return np.asarray(scores, dtype=float)


def wilson_interval(successes: int, n: int) -> Interval:
    """The Wilson score interval of a proportion (scipy's binomtest); n = 0 gives [0, 1]."""
    if n == 0:
        return Interval(0.0, 0.0, 1.0)
    ci = _stats().binomtest(successes, n).proportion_ci(CONFIDENCE, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high))


def bootstrap_interval(scores: Sequence[float], seed: int) -> Interval:
    """A seeded percentile bootstrap interval of the mean (degenerate data: a point)."""
    data = _array(scores)
    if data.size == 0:
        return Interval(0.0, 0.0, 1.0)
    mean = float(data.mean())
    if data.size == 1 or np.all(data == data[0]):
        return Interval(mean, mean, mean)
    result = _stats().bootstrap(
        (data,),
        np.mean,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high))


def interval(scores: Sequence[float], binary: bool, seed: int) -> Interval:
    """Wilson for 0/1 scores, bootstrap otherwise."""
    if binary:
        return wilson_interval(round(float(_array(scores).sum())), len(scores))
    return bootstrap_interval(scores, seed)


def _discordant(a: Sequence[float], b: Sequence[float]) -> tuple[int, int]:
    """(rows only A got right, rows only B got right) of paired 0/1 outcomes."""
    x, y = _array(a) > 0.5, _array(b) > 0.5
    return int(np.sum(x & ~y)), int(np.sum(~x & y))


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 outcomes; 1.0 with no discordant pair.

    At p0 = 1/2 the binomial is symmetric, so scipy's two-sided p equals twice the smaller
    tail: the test that the Clopper-Pearson interval of :func:`mcnemar_interval` inverts."""
    only_a, only_b = _discordant(a, b)
    if only_a + only_b == 0:
        return 1.0
    return float(_stats().binomtest(only_a, only_a + only_b, 0.5).pvalue)


def mcnemar_interval(a: Sequence[float], b: Sequence[float]) -> Interval:
    """The exact conditional interval of the paired difference of 0/1 outcomes.

    Given the m discordant rows, A wins each with probability pi; the difference of the two
    accuracies is (m / n) * (2 pi - 1). The Clopper-Pearson interval of pi holds 1/2 exactly
    when McNemar's exact p >= 0.05, so the scaled interval holds 0 exactly then."""
    n = len(a)
    only_a, only_b = _discordant(a, b)
    m = only_a + only_b
    delta = (only_a - only_b) / n if n else 0.0
    if m == 0:
        return Interval(delta, delta, delta)
    ci = _stats().binomtest(only_a, m, 0.5).proportion_ci(CONFIDENCE, method="exact")
    scale = m / n
    return Interval(delta, scale * (2 * float(ci.low) - 1), scale * (2 * float(ci.high) - 1))


@dataclass(frozen=True)
class SignFlips:
    """The sign-flip null distribution of one set of paired differences, for any shift d.

    Each pattern s gives the statistic mean(s * (diff - d)) = A_s - d * B_s, with A_s and B_s
    computed once, so the p-value at any shift costs one pass over the patterns: the interval
    is found by bisection on the very test whose p is printed. Every pattern is enumerated
    up to EXACT_UP_TO of them; beyond, RESAMPLES seeded random patterns are drawn and
    p = (hits + 1) / (RESAMPLES + 1)."""

    diff: np.ndarray
    a: np.ndarray
    b: np.ndarray
    exact: bool

    @classmethod
    def of(cls, diff: np.ndarray, seed: int) -> SignFlips:
        n = diff.size
        if 2**n <= EXACT_UP_TO:
            codes = np.arange(2**n)[:, None] >> np.arange(n)[None, :] & 1
            signs = 1 - 2 * codes.astype(np.int8)
            return cls(diff, signs @ diff / n, signs.sum(axis=1) / n, True)
        rng = np.random.default_rng(seed)
        a, b = np.empty(RESAMPLES), np.empty(RESAMPLES)
        for start in range(0, RESAMPLES, _CHUNK):
            stop = min(start + _CHUNK, RESAMPLES)
            signs = 1 - 2 * rng.integers(0, 2, size=(stop - start, n), dtype=np.int8)
            a[start:stop], b[start:stop] = signs @ diff / n, signs.sum(axis=1) / n
        return cls(diff, a, b, False)

    def p_value(self, shift: float = 0.0) -> float:
        observed = abs(float(self.diff.mean()) - shift)
        if observed == 0.0:
            return 1.0
        tolerance = 1e-12 * max(1.0, observed)
        hits = int(np.count_nonzero(np.abs(self.a - shift * self.b) >= observed - tolerance))
        if self.exact:
            return hits / self.a.size
        return (hits + 1) / (self.a.size + 1)


_CHUNK = 1024  # random patterns drawn at a time (bounds memory for long test sets)


def permutation_test(a: Sequence[float], b: Sequence[float], seed: int) -> float:
    """Two-sided paired permutation p-value of the mean difference (swapping within pairs
    flips the sign of their difference; pairs with equal scores change nothing)."""
    diff = _array(a) - _array(b)
    if diff.size == 0 or not diff.any():
        return 1.0
    return SignFlips.of(diff, seed).p_value()


def _accepted_edge(flips: SignFlips, inside: float, outside: float) -> float:
    """Bisect between a shift the test accepts and one it rejects; return the last accepted."""
    for _ in range(SHIFT_STEPS):
        middle = (inside + outside) / 2
        if flips.p_value(middle) >= 1 - CONFIDENCE:
            inside = middle
        else:
            outside = middle
    return inside


def permutation_interval(a: Sequence[float], b: Sequence[float], seed: int) -> Interval:
    """The shifts d of the mean difference that the permutation test does not reject.

    Found by bisection on each side of the mean (where p = 1); when a side never rejects
    (too few rows to reach p < 0.05) its bound is the far end of the bracket, a wide
    interval that says so. Bisection assumes the accepted shifts form one interval; the
    bound on the side of 0 is then put where the test at d = 0 says it belongs, so the
    printed pair agrees even where a Monte Carlo p is not monotone in d."""
    diff = _array(a) - _array(b)
    mean = float(diff.mean()) if diff.size else 0.0
    if diff.size == 0 or np.all(diff == diff[0]):
        return Interval(mean, mean, mean)
    flips = SignFlips.of(diff, seed)
    span = float(diff.max() - diff.min())
    low = min(float(diff.min()), 0.0) - span
    high = max(float(diff.max()), 0.0) + span
    if flips.p_value(low) < 1 - CONFIDENCE:
        low = _accepted_edge(flips, mean, low)
    if flips.p_value(high) < 1 - CONFIDENCE:
        high = _accepted_edge(flips, mean, high)
    if flips.p_value() >= 1 - CONFIDENCE:
        low, high = min(low, 0.0), max(high, 0.0)
    elif low <= 0.0 <= high:
        low, high = (low, np.nextafter(0.0, -1.0)) if mean < 0 else (np.nextafter(0.0, 1.0), high)
    return Interval(mean, float(low), float(high))


def paired_test(a: Sequence[float], b: Sequence[float], binary: bool, seed: int) -> PairedTest:
    """A against B on the same rows: McNemar for 0/1 scores, a permutation test otherwise,
    each with the interval of the difference that inverts it."""
    if len(a) != len(b):
        raise ValueError(f"paired scores differ in length ({len(a)} and {len(b)})")
    if binary:
        diff = mcnemar_interval(a, b)
        return PairedTest(diff.estimate, diff.low, diff.high, mcnemar_exact(a, b), "mcnemar-exact")
    diff = permutation_interval(a, b, seed)
    p_value = permutation_test(a, b, seed)
    return PairedTest(diff.estimate, diff.low, diff.high, p_value, "permutation")
