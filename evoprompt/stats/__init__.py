"""Statistics of the held-out verdict (numpy/scipy only; nothing else in the package)."""

from evoprompt.stats.inference import (
    Interval,
    PairedTest,
    bootstrap_interval,
    interval,
    mcnemar_exact,
    mcnemar_interval,
    paired_test,
    permutation_interval,
    permutation_test,
    preload,
    wilson_interval,
)

__all__ = [
    "Interval",
    "PairedTest",
    "bootstrap_interval",
    "interval",
    "mcnemar_exact",
    "mcnemar_interval",
    "paired_test",
    "permutation_interval",
    "permutation_test",
    "preload",
    "wilson_interval",
]
