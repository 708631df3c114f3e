"""CPU per call: the runner against a zero-latency endpoint, next to the transport floor.

The runner (the benchmark's workload at C=32, checkpointing on) and the bare transport loop
of ``floor.py`` (as many requests, same concurrency) each run against the same endpoint
process at zero latency; each figure is the process's user + system CPU (rusage) over its
requests, the median of ``plan.cpu_trials`` runs, alternated. Both run once per HTTP client:
the default (aiohttp) is the figure, ``--http-client httpx`` is shown beside it. The runner's
run has no test phase (``--test-size 0``): its calls are scoring calls like the dev rows',
but its verdict costs a fixed ~1.5 s of CPU (importing scipy.stats) that is not a per-call
cost; the whole-run figure includes it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

from evoprompt.llm.transport import DEFAULT, TRANSPORTS

from .plan import PY, Plan
from .workload import Runner, say

CONCURRENCY = 32
TARGET_MS = 0.4
TARGET_FLOOR_RATIO = 1.3
FLOOR = Path(__file__).with_name("floor.py")
CLIENTS = (DEFAULT, *sorted(set(TRANSPORTS) - {DEFAULT}))  # the default first: the figure

Row = tuple[str, str, str, str]


def floor_cpu(runner: Runner, requests: int, client: str) -> float:
    """CPU seconds of the bare transport loop for ``requests`` calls."""
    runner.endpoint.reset(0.0)
    argv = [PY, str(FLOOR), runner.endpoint.url, str(requests), str(CONCURRENCY), client]
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("the transport floor loop failed")
    return usage.ru_utime + usage.ru_stime


def cpu(runner: Runner, plan: Plan) -> dict[str, Any]:
    say(f"CPU per call at zero latency, C={CONCURRENCY}, {plan.cpu_trials} trial(s) each")
    flags = [*runner.workload(plan.population, plan.dev, plan.generations), "--test-size", "0"]
    out: dict[str, Any] = {}
    for client in CLIENTS:
        runner_ms, floor_ms = [], []
        for i in range(plan.cpu_trials):
            run = runner.experiment(
                f"cpu{i}", [*flags, "--http-client", client], concurrency=CONCURRENCY, latency=0.0
            )
            runner_ms.append(1000 * run.cpu_s / run.requests)
            floor_ms.append(1000 * floor_cpu(runner, run.requests, client) / run.requests)
            say(f"  {client}: runner {runner_ms[-1]:.3f} ms/call, floor {floor_ms[-1]:.3f} "
                f"ms/call ({run.requests} calls, runner wall {run.wall:.2f}s)")  # fmt: skip
        out[client] = {
            "requests": run.requests,
            "runner_ms": statistics.median(runner_ms),
            "floor_ms": statistics.median(floor_ms),
            "runner_trials": runner_ms,
            "floor_trials": floor_ms,
        }
    return out


def rows(out: dict[str, Any]) -> list[Row]:
    if "cpu" not in out:
        return []
    result: list[Row] = []
    for client, c in out["cpu"].items():
        ratio = c["runner_ms"] / c["floor_ms"]
        verdict = ("(reference)", "-")
        if client == DEFAULT:
            ok = c["runner_ms"] <= TARGET_MS or ratio <= TARGET_FLOOR_RATIO
            verdict = (
                f"<= {TARGET_MS} ms or <= {TARGET_FLOOR_RATIO}x floor",
                "pass" if ok else "MISS",
            )
        result.append(
            (
                f"runner CPU per call, C={CONCURRENCY}, zero latency"
                + ("" if client == DEFAULT else f", --http-client {client}"),
                f"{c['runner_ms']:.3f} ms = {ratio:.2f}x the transport floor "
                f"({c['floor_ms']:.3f} ms, bare {client} loop); {c['requests']} calls",
                *verdict,
            )
        )
    return result


def md(out: dict[str, Any]) -> list[str]:
    if "cpu" not in out:
        return []
    lines = ["", "## CPU per call (zero latency, C=32)", ""]
    for client, c in out["cpu"].items():
        trials = ", ".join(
            f"{a:.3f}/{b:.3f}" for a, b in zip(c["runner_trials"], c["floor_trials"])
        )
        lines.append(f"- {client}: runner / bare {client} loop, ms of CPU per call, by trial: "
                     f"{trials}.")  # fmt: skip
    lines += [
        "",
        "Both are whole processes (interpreter start included), against the same endpoint "
        "process. The runner's HTTP client is aiohttp unless `--http-client httpx` is given.",
    ]
    return lines
