"""Breeding and scoring overlapped: whole runs whose operator replies arrive over seconds, as a
real model's do (it writes children of different lengths). Part of ``run.py`` (section
``stream``).

The real CLI (of ``--tree``) against the test endpoint in this process: the pruning section's
realistic endpoint, 50 ms per request, and each operator reply delayed by its own share of
``plan.stream_spread`` seconds (``Faults.operator_spread``, by a hash of the request). GA and
DE, population 10, dev 150, 3 generations, C=32, no test phase. Children are scored as their
replies arrive, so the figure to compare is wall time and classification calls between trees
(``--only stream --tree OLD``): a runner that waits for the whole brood leaves every slot idle
until the slowest reply.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from evoprompt.testing.faults import Faults
from evoprompt.testing.server import FakeLLMServer

from .plan import LATENCY, Plan
from .pruning import cli
from .workload import say

Row = tuple[str, str, str, str]


def stream(plan: Plan, tree: Path) -> list[dict[str, Any]]:
    say(f"streaming: operator replies over 0-{plan.stream_spread:g} s, {LATENCY * 1000:g} ms "
        f"per request, population {plan.population}, dev {plan.prune_dev}, "
        f"{plan.prune_generations} generations, C=32")  # fmt: skip
    results = []
    faults = Faults(
        latency=LATENCY,
        operator_spread=plan.stream_spread,
        worse_children=plan.worse_children,
        skill=plan.skill,
        hard_rows=plan.hard_rows,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for algorithm in ("ga", "de"):
            args = [
                "--dev-size", str(plan.prune_dev), "--population-size", str(plan.population),
                "--max-generations", str(plan.prune_generations), "--concurrency", "32",
                "--test-size", "0", "--algorithm", algorithm, "--result-dir", tmp,
            ]  # fmt: skip
            with FakeLLMServer(faults=faults) as server:
                started = time.monotonic()
                done = cli(args, server.url, tree)
                wall = time.monotonic() - started
                if done.returncode != 0:
                    raise RuntimeError(f"the {algorithm} run failed:\n{done.stderr[-2000:]}")
                counts = dict(server.counts)
            r = {
                "algorithm": algorithm,
                "wall_s": wall,
                "classify": counts.get("answered_classify", 0),
                "evolve": counts.get("answered_evolve", 0),
            }
            say(f"  {algorithm}: {wall:.2f}s, {r['classify']} classification calls, "
                f"{r['evolve']} operator calls")  # fmt: skip
            results.append(r)
    return results


def rows(out: dict[str, Any]) -> list[Row]:
    return [
        (
            f"whole run, {r['algorithm'].upper()}, operator replies spread over seconds",
            f"{r['wall_s']:.2f}s, {r['classify']} classification calls",
            "(reference: compare trees)",
            "-",
        )
        for r in out.get("stream", [])
    ]
