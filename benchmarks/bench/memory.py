"""Measurement 5: peak RSS of the runner over a large initial population (and its disk use)."""

from __future__ import annotations

from typing import Any

from .disk import disk_per_1000
from .plan import Plan
from .workload import Runner, describe, say


def memory(runner: Runner, plan: Plan) -> tuple[dict[str, Any], dict[str, float]]:
    """Generation 0 only, zero latency, C=32; returns the memory figures and the disk figures."""
    p = plan
    say(
        f"memory: population {p.mem_population}, dev {p.mem_dev}, initial population "
        "only, zero latency, C=32"
    )
    seeds = [
        f"Variant {i}: classify the text into one of the given labels."
        for i in range(max(2, p.mem_population // 2))
    ]
    flags = [*runner.workload(p.mem_population, p.mem_dev, 0), "--seed-prompts", *seeds]
    run = runner.experiment("memory", flags, concurrency=32, latency=0.0)
    say(describe(run))
    figures = {
        "population": p.mem_population,
        "dev": p.mem_dev,
        "requests": run.requests,
        "wall": run.wall,
        "maxrss_kib": run.maxrss_kb,
        "runner_cpu_ms": 1000 * run.cpu_s / run.requests,
    }
    return figures, disk_per_1000(run)
