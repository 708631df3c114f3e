"""Measurement 3: C=32 against the original EvoPrompt shape, one call at a time."""

from __future__ import annotations

from .workload import Run, Runner, say


def sequential(runner: Runner) -> Run:
    say("baseline: one call at a time, C=1 (checkpoint on)")
    return runner.standard("c1", 1)


def baseline(c32: Run, c1: Run) -> dict[str, float]:
    """Below 1 means the concurrent runner beats the sequential loop."""
    return {"span_ratio": c32.span / c1.span, "process_ratio": c32.wall / c1.wall}
