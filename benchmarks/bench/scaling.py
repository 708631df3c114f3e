"""Measurement 1: wall / ideal at each concurrency, with the per-phase breakdown."""

from __future__ import annotations

import math
from typing import Any

from .workload import Run


def median_run(runs: list[Run]) -> Run:
    """The lower median by server span: the run that stands for several."""
    ordered = sorted(runs, key=lambda r: r.span)
    return ordered[(len(ordered) - 1) // 2]


def scaling_row(run: Run) -> dict[str, Any]:
    """Span against the phased and the flat ideal, and where the rest of the time went."""
    r, c = run, run.concurrency
    return {
        "requests": r.requests,
        "span": r.span,
        "wall": r.wall,
        "ideal_phased": r.ideal_phased,
        "ideal_flat": r.ideal_flat,
        "ratio": r.span / r.ideal_phased,
        "ratio_flat": r.span / r.ideal_flat,
        "ratio_process": r.wall / r.ideal_phased,
        "gaps": r.phase_gaps(),
        "first_request_s": r.first_request_s,
        "runner_cpu_ms": 1000 * r.cpu_s / r.requests,
        "server_cpu_ms": 1000 * r.server_cpu_s / r.requests,
        "peak_inflight": r.peak_inflight,
        "phases": [
            {
                "kind": p.kind,
                "n": p.n,
                "span": p.end - p.start,
                "ideal": math.ceil(p.n / c) * r.latency,
            }
            for p in r.phases
        ],
    }


def scaling(runs: dict[int, Run]) -> dict[int, dict[str, Any]]:
    """One row per concurrency, in increasing order."""
    return {c: scaling_row(r) for c, r in sorted(runs.items())}
