"""The workload: a synthetic dataset and runs of the real CLI, timed by the process and server."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .plan import LATENCY, PY, ROOT, SCRIPT, WORK, Plan
from .server import Endpoint


@dataclass
class Phase:
    """A maximal run of same-kind requests in the server log (evolve or classify)."""

    kind: str
    n: int
    start: float
    end: float


@dataclass
class Run:
    label: str
    concurrency: int
    latency: float
    rc: int
    started: float
    ended: float
    maxrss_kb: int
    cpu_s: float
    server_cpu_s: float
    log: list[tuple[float, float, str]]
    exp_dir: Path
    peak_inflight: int = 0
    inside: dict[str, float] = field(default_factory=dict)  # instrumented runs only
    phases: list[Phase] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log.sort()
        for arrived, done, kind in self.log:
            if self.phases and self.phases[-1].kind == kind:
                phase = self.phases[-1]
                phase.n += 1
                phase.end = max(phase.end, done)
            else:
                self.phases.append(Phase(kind, 1, arrived, done))

    @property
    def requests(self) -> int:
        return len(self.log)

    @property
    def span(self) -> float:
        """First arrival to last completion at the server."""
        return max(d for _, d, _ in self.log) - self.log[0][0] if self.log else 0.0

    @property
    def wall(self) -> float:
        """Whole process: spawn to exit."""
        return self.ended - self.started

    @property
    def ideal_phased(self) -> float:
        c = self.concurrency
        return sum(math.ceil(p.n / c) for p in self.phases) * self.latency

    @property
    def ideal_flat(self) -> float:
        return self.requests * self.latency / self.concurrency

    @property
    def first_request_s(self) -> float:
        return self.log[0][0] - self.started

    def phase_gaps(self) -> float:
        """Time between phases (the runner alone: selection, saves) inside the span."""
        return self.span - sum(p.end - p.start for p in self.phases)


def say(text: str) -> None:
    print(text, flush=True)


def describe(run: Run) -> str:
    ratio = f"{run.span / run.ideal_phased:5.2f}" if run.ideal_phased else "  n/a"
    return (
        f"  {run.label:<14} C={run.concurrency:<3} {run.requests:>6} req  span {run.span:7.2f}s  "
        f"ideal {run.ideal_phased:6.2f}s  ratio {ratio}  "
        f"process {run.wall:7.2f}s  runner CPU {1000 * run.cpu_s / max(run.requests, 1):.2f} "
        f"ms/req  server CPU {1000 * run.server_cpu_s / max(run.requests, 1):.2f} ms/req"
    )


def make_dataset(path: Path, rows: int) -> None:
    """A synthetic two-label CSV (the endpoint answers unknown texts with the first label)."""
    rng = random.Random(0)
    words = ("alpha", "beta", "gamma", "delta", "river", "stone", "cloud", "quiet", "bright")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            text = f"sample {i}: " + " ".join(rng.choice(words) for _ in range(12))
            writer.writerow([text, rng.choice(["positive", "negative"])])


def cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EVOPROMPT_"))}
    env.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")
    return env


class Runner:
    """Starts ``main.py`` (or the instrumented CLI) against the endpoint, one run at a time."""

    def __init__(self, endpoint: Endpoint, dataset: Path, plan: Plan, tree: Path = ROOT):
        self.main = tree / "main.py"
        self.endpoint = endpoint
        self.dataset = dataset
        self.plan = plan
        self.results = WORK / "result"
        self.env = cli_env(endpoint.url)

    def experiment(
        self,
        exp_id: str,
        flags: list[str],
        *,
        concurrency: int,
        latency: float,
        fresh: bool = True,
        instrument: bool = False,
        timeout: float = 1200,
    ) -> Run:
        exp_dir = self.results / exp_id
        if fresh:
            shutil.rmtree(exp_dir, ignore_errors=True)
        inside_path = WORK / "logs" / f"{exp_id}.inside.json"
        inside_path.unlink(missing_ok=True)
        entry = [str(self.main)]
        if instrument:
            entry = [str(SCRIPT), "--instrumented", str(inside_path)]
            entry += ["--tree", str(self.main.parent), "--"]
        argv = [
            PY,
            *entry,
            "--result-dir",
            str(self.results),
            "--experiment-id",
            exp_id,
            "--concurrency",
            str(concurrency),
            *flags,
        ]
        self.endpoint.reset(latency)
        server_cpu = self.endpoint.snapshot()["cpu_s"]
        log_path = WORK / "logs" / f"{exp_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as out:
            started = time.time()
            proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=out)
            watchdog = threading.Timer(timeout, proc.kill)
            watchdog.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                watchdog.cancel()
            ended = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
        snap = self.endpoint.snapshot()
        for _ in range(20):  # a handler thread may still be appending its last entry
            if len(snap["log"]) >= snap["stats"].get("answered", 0):
                break
            time.sleep(0.05)
            snap = self.endpoint.snapshot()
        return Run(
            label=exp_id,
            concurrency=concurrency,
            latency=latency,
            rc=proc.returncode,
            started=started,
            ended=ended,
            maxrss_kb=usage.ru_maxrss,
            cpu_s=usage.ru_utime + usage.ru_stime,
            server_cpu_s=snap["cpu_s"] - server_cpu,
            log=[(arrived, done, kind) for arrived, done, kind in snap["log"]],
            exp_dir=exp_dir,
            peak_inflight=snap["stats"].get("peak_inflight", 0),
            inside=json.loads(inside_path.read_text()) if instrument else {},
        )

    def workload(self, population: int, dev: int, generations: int) -> list[str]:
        return [
            "--dataset",
            str(self.dataset),
            "--population-size",
            str(population),
            "--dev-size",
            str(dev),
            "--max-generations",
            str(generations),
        ]

    def standard(
        self, exp_id: str, concurrency: int, *, checkpoint: bool = True, instrument: bool = False
    ) -> Run:
        """The benchmark's workload at latency L, with or without checkpoints."""
        p = self.plan
        flags = self.workload(p.population, p.dev, p.generations)
        if not checkpoint:
            flags.append("--no-checkpoint")
        run = self.experiment(
            exp_id, flags, concurrency=concurrency, latency=LATENCY, instrument=instrument
        )
        say(describe(run))
        return run
