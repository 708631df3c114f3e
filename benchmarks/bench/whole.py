"""Whole run and first request: the process from spawn to exit against the endpoint's pace.

The scaling figure times the server's span; this one charges the runner for everything a user
waits for: interpreter start, imports, dataset loading, the limiter's ramp, the barriers between
phases and the final saves. *ideal* is the same per-phase sum of ceil(requests / C) x L.
The first request is timed on this fresh experiment: spawn to its arrival at the server.
"""

from __future__ import annotations

from typing import Any

from .plan import Plan
from .workload import Runner, say

CONCURRENCY = 32
TARGET_RATIO = 1.10
TARGET_FIRST_S = 0.35

Row = tuple[str, str, str, str]


def whole(runner: Runner, plan: Plan) -> dict[str, Any]:
    """One fresh run: population x dev x generations at C=32 and ``plan.whole_latency``."""
    say(f"whole run: {plan.whole_generations} generations, C={CONCURRENCY}, "
        f"L={plan.whole_latency * 1000:.0f} ms")  # fmt: skip
    flags = runner.workload(plan.population, plan.dev, plan.whole_generations)
    run = runner.experiment("whole", flags, concurrency=CONCURRENCY, latency=plan.whole_latency)
    last_done = max(done for _, done, _ in run.log)
    figures = {
        "generations": plan.whole_generations,
        "latency": plan.whole_latency,
        "requests": run.requests,
        "wall": run.wall,
        "span": run.span,
        "ideal": run.ideal_phased,
        "ratio": run.wall / run.ideal_phased,
        "ratio_span": run.span / run.ideal_phased,
        "first_request_s": run.first_request_s,
        "after_last_s": run.ended - last_done,
        "gaps": run.phase_gaps(),
        "phases": [(p.kind, p.n, p.end - p.start) for p in run.phases],
    }
    say(
        f"  wall {run.wall:.2f}s / ideal {run.ideal_phased:.2f}s = {figures['ratio']:.2f}; "
        f"first request {run.first_request_s:.3f}s; after the last answer "
        f"{figures['after_last_s']:.3f}s"
    )
    return figures


def rows(out: dict[str, Any]) -> list[Row]:
    if "whole" not in out:
        return []
    w = out["whole"]
    return [
        (
            f"whole run / ideal, C={CONCURRENCY}, L={w['latency'] * 1000:.0f} ms",
            f"{w['ratio']:.2f} ({w['wall']:.2f}s spawn to exit / {w['ideal']:.2f}s; "
            f"server span {w['ratio_span']:.2f}; {w['requests']} requests, "
            f"{w['generations']} gens)",
            f"<= {TARGET_RATIO:.2f}",
            "pass" if w["ratio"] <= TARGET_RATIO else "MISS",
        ),
        (
            "fresh experiment: start -> first request",
            f"{w['first_request_s']:.3f}s (last answer -> exit {w['after_last_s']:.3f}s, "
            f"between phases {w['gaps']:.3f}s)",
            f"<= {TARGET_FIRST_S} s",
            "pass" if w["first_request_s"] <= TARGET_FIRST_S else "MISS",
        ),
    ]


def md(out: dict[str, Any]) -> list[str]:
    if "whole" not in out:
        return []
    w = out["whole"]
    parts = ", ".join(f"{kind} {n} ({span:.2f}s)" for kind, n, span in w["phases"])
    return [
        "",
        "## Whole run (spawn to exit)",
        "",
        f"Population as above, {w['generations']} generations, C={CONCURRENCY}, latency "
        f"{w['latency'] * 1000:.0f} ms: {w['wall']:.2f}s from spawn to exit against an ideal of "
        f"{w['ideal']:.2f}s; start to first request {w['first_request_s']:.3f}s; last answer "
        f"to exit {w['after_last_s']:.3f}s. Phases (requests, span): {parts}.",
    ]
