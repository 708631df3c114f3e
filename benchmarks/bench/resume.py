"""Measurement 4: resume latency, next to the interpreter's own start-up time."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from .plan import PY, ROOT, WORK, Plan
from .workload import Runner, say


def time_command(argv: list[str], trials: int, cwd: Path = ROOT) -> float:
    """Median wall seconds of a command, after one run that warms the file cache."""
    subprocess.run(argv, cwd=cwd, check=True)
    times = []
    for _ in range(trials):
        started = time.time()
        subprocess.run(argv, cwd=cwd, check=True)
        times.append(time.time() - started)
    return statistics.median(times)


def startup(plan: Plan, tree: Path) -> dict[str, float]:
    """``python -c pass`` and ``python -c "import evoprompt.cli.run"``: what resume is held to."""
    say(f"interpreter start-up (median of {plan.startup_trials})")
    figures = {"python_pass_s": time_command([PY, "-c", "pass"], plan.startup_trials)}
    figures["python_import_s"] = time_command(
        [PY, "-c", "import evoprompt.cli.run"], plan.startup_trials, cwd=tree
    )
    say(
        f"  python -c pass {figures['python_pass_s']:.3f}s; "
        f"import evoprompt.cli.run {figures['python_import_s']:.3f}s"
    )
    return figures


def resume(
    runner: Runner, plan: Plan, python_pass_s: float, python_import_s: float
) -> dict[str, Any]:
    """Spawn to first request of a one-generation extension of a long history, fresh copy each."""
    say(f"resume: building {plan.history} generations of history (zero latency)")
    hist = runner.experiment(
        "resume",
        runner.workload(4, 8, plan.history),
        concurrency=8,
        latency=0.0,
    )
    say(f"  built in {hist.wall:.1f}s ({hist.requests} requests)")
    pristine = WORK / "pristine" / "resume"
    shutil.copytree(hist.exp_dir, pristine)
    firsts = []
    for _ in range(plan.resume_trials):
        shutil.rmtree(hist.exp_dir)
        shutil.copytree(pristine, hist.exp_dir)
        run = runner.experiment(
            "resume",
            ["--max-generations", str(plan.history + 1)],
            concurrency=8,
            latency=0.0,
            fresh=False,
        )
        firsts.append(run.first_request_s)
        say(f"  start -> first request {run.first_request_s:.3f}s")
    first = statistics.median(firsts)
    return {
        "history_generations": plan.history,
        "history_requests": hist.requests,
        "trials": firsts,
        "first_request_s": first,
        "beyond_interpreter_s": first - python_pass_s,
        "beyond_imports_s": first - python_import_s,
    }
