"""Measurement 2: what checkpoints + journal cost, from alternated on/off runs and from inside."""

from __future__ import annotations

import statistics
from typing import Any

from .workload import Run, Runner, say

BUCKETS = ("journal", "batch_saves", "generation_saves")


def on_off_pairs(runner: Runner, pairs: int) -> tuple[list[Run], list[Run]]:
    """Instrumented C=32 runs with and without ``--no-checkpoint``: on off, off on, on off, ..."""
    say(f"checkpoint + journal on/off at C=32, {pairs} alternated pair(s)")
    on: list[Run] = []
    off: list[Run] = []
    for i in range(pairs):
        for checkpoint in (True, False) if i % 2 == 0 else (False, True):
            name = f"c32_{'on' if checkpoint else 'off'}{len(on if checkpoint else off)}"
            run = runner.standard(name, 32, checkpoint=checkpoint, instrument=True)
            (on if checkpoint else off).append(run)
    return on, off


def overhead(on: list[Run], off: list[Run]) -> dict[str, Any]:
    """Checkpoint + journal cost from alternated on/off runs, and from inside the runner."""
    med = statistics.median
    med_on, med_off = med(r.span for r in on), med(r.span for r in off)
    paired = [(a.span - b.span) / b.span for a, b in zip(on, off)]

    def inside(runs: list[Run], bucket: str) -> float:
        return med(r.inside.get(bucket, 0.0) for r in runs)

    delta = {b: inside(on, b) - inside(off, b) for b in ("journal", "generation_saves")}
    batch = inside(on, "batch_saves")
    concurrency = on[0].concurrency
    return {
        "on_spans": [r.span for r in on],
        "off_spans": [r.span for r in off],
        "on_walls": [r.wall for r in on],
        "off_walls": [r.wall for r in off],
        "median_on": med_on,
        "median_off": med_off,
        "share": (med_on - med_off) / med_off,
        "paired": paired,
        "share_paired": med(paired),
        "share_process": (med(r.wall for r in on) - med(r.wall for r in off))
        / med(r.wall for r in off),
        "inside_on": {b: inside(on, b) for b in BUCKETS},
        "inside_off": {b: inside(off, b) for b in BUCKETS},
        # the event loop waits for journal calls and generation saves; a batch save holds one
        # of the C workers (the others keep the endpoint busy)
        "share_direct": (sum(delta.values()) + batch / concurrency) / med_off,
        "share_direct_max": (sum(delta.values()) + batch) / med_off,
    }
