"""Intervals for one prompt's test score and paired tests of two prompts on the same rows.

0/1 scores (a metric whose ``binary`` flag is set) get the Wilson interval and the exact
McNemar test (a binomial test on the discordant pairs); continuous scores get a percentile
bootstrap interval and a paired permutation test (sign flips of the differences, exact when
there are few of them). The paired difference always gets a bootstrap interval over rows.
Everything random is seeded, so the same scores always give the same figures (a resumed run
reproduces its summary exactly).
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


def paired_bootstrap(a: Sequence[float], b: Sequence[float], seed: int) -> Interval:
    """Mean of a - b with a bootstrap interval that resamples rows (pairs stay together)."""
    return bootstrap_interval(_array(a) - _array(b), seed)


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 outcomes; 1.0 with no discordant pair."""
    x, y = _array(a) > 0.5, _array(b) > 0.5
    only_a, only_b = int(np.sum(x & ~y)), int(np.sum(~x & y))
    if only_a + only_b == 0:
        return 1.0
    return float(_stats().binomtest(only_a, only_a + only_b, 0.5).pvalue)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.asarray(np.mean(x - y, axis=axis))


def permutation_test(a: Sequence[float], b: Sequence[float], seed: int) -> float:
    """Two-sided paired permutation p-value of the mean difference (swapping within pairs).

    Pairs with equal scores change nothing under a swap and are left out; up to
    log2(EXACT_UP_TO) differing pairs every swap pattern is enumerated, beyond that a seeded
    Monte Carlo sample is drawn.
    """
    x, y = _array(a), _array(b)
    differ = x != y
    if not differ.any():
        return 1.0
    x, y = x[differ], y[differ]
    result = _stats().permutation_test(
        (x, y),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=max(RESAMPLES, EXACT_UP_TO),
        alternative="two-sided",
        random_state=np.random.default_rng(seed),
    )
    return float(min(1.0, result.pvalue))


def paired_test(a: Sequence[float], b: Sequence[float], binary: bool, seed: int) -> PairedTest:
    """A against B on the same rows: McNemar for 0/1 scores, a permutation test otherwise."""
    if len(a) != len(b):
        raise ValueError(f"paired scores differ in length ({len(a)} and {len(b)})")
    diff = paired_bootstrap(a, b, seed)
    if binary:
        return PairedTest(diff.estimate, diff.low, diff.high, mcnemar_exact(a, b), "mcnemar-exact")
    p_value = permutation_test(a, b, seed)
    return PairedTest(diff.estimate, diff.low, diff.high, p_value, "permutation")
