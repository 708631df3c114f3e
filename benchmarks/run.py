#!/usr/bin/env python3
"""Performance benchmark of the runner (issue #7, SPEC section 9): ratios measured in one run.

    .venv/bin/python benchmarks/run.py            # full run: about 9 minutes on 2 cores
    .venv/bin/python benchmarks/run.py --quick    # smoke version: about 30 seconds
    make bench [ARGS=--quick]

The loopback test endpoint (``evoprompt.testing.server.FakeLLMServer``, a real HTTP server) runs
in a separate process, so it never shares the GIL with the runner. It is subclassed here only to
log, per answered request, its arrival time, its completion time and its kind (evolve or
classify), to reset its counters between runs, and to set TCP_NODELAY as production servers do
(see ``serve``). Every time figure below comes from those server-side timestamps or from the
runner's own process (spawn, exit, rusage). The runner is the real CLI (``main.py``) started as
a subprocess with ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY=sk-bench``, on a synthetic CSV.

Measurements (workload: population 10, dev 200, 2 generations, GA, latency L = 50 ms):

1. wall / ideal at concurrency C = 1, 8, 32 (checkpointing on). *wall* is the server's span:
   from the arrival of the first request to the completion of the last one; it leaves out
   interpreter start, imports, dataset loading and the final save (the whole-process time is
   reported too). *ideal* counts each phase separately, because a phase cannot start before
   the previous one ends (breeding waits for the scores that select the parents, scoring waits
   for the children): ideal = sum over phases of ceil(n_phase / C) * L, phases being the
   maximal runs of same-kind requests in the server log (paraphrases, scoring of generation 0,
   breeding of generation 1, ...). The spec's flat formula, requests * L / C, is shown beside
   it (the two differ by under 2% here). The C = 32 row is the lower median of the checkpoint-on
   runs of item 2.
2. checkpoint + journal overhead at C = 32: 4 pairs of runs with and without
   ``--no-checkpoint``, alternated (on off, off on, on off, off on); (median on - median off) /
   median off of the server span, with the per-pair differences to show the noise. As a
   cross-check, the same runs time the checkpoint code from the inside (``--instrumented``):
   seconds spent in the journal (on the event loop) and in batch / generation saves.
3. the original EvoPrompt shape, one call at a time (C = 1), as the baseline:
   wall at C = 32 / wall at C = 1.
4. resume latency: an experiment with 50 generations of history (population 4, dev 8, zero
   latency) is extended with ``--max-generations 51``; measured from just before the process is
   spawned to the arrival of its first request at the server (median over 5 fresh copies of the
   folder), next to ``python -c pass`` and ``python -c "import evoprompt.cli.run"``.
5. peak memory (max RSS of the runner process, from ``os.wait4``'s rusage) of the initial
   population (generation 0, ``--max-generations 0``) of a population-50, dev-1000 experiment:
   50,000 scoring calls at zero latency, C = 32.
6. bytes on disk per 1,000 answered requests: ``journal.sqlite`` (+ ``-wal``) and
   ``checkpoints/``, from the C = 32 run and from the memory run.

Work files go to ``benchmarks/_work/`` (git-ignored); the report to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PY = sys.executable
LATENCY = 0.05
SECTIONS = ("startup", "scaling", "overhead", "baseline", "resume", "memory")

TARGET_RATIO = 1.15
TARGET_OVERHEAD = 0.03
TARGET_RESUME_S = 1.0


@dataclass(frozen=True)
class Plan:
    """Sizes of one benchmark mode."""

    population: int = 10
    dev: int = 200
    generations: int = 2
    pairs: int = 4  # on/off pairs of the overhead measurement
    history: int = 50  # generations of history before the resume measurement
    resume_trials: int = 5
    startup_trials: int = 5
    mem_population: int = 50
    mem_dev: int = 1000
    dataset_rows: int = 1200


FULL = Plan()
QUICK = Plan(
    population=4,
    dev=32,
    generations=1,
    pairs=1,
    history=10,
    resume_trials=2,
    startup_trials=3,
    mem_population=10,
    mem_dev=200,
    dataset_rows=400,
)


# -- the endpoint, in its own process --------------------------------------------------------


def serve(nodelay: bool) -> None:
    """``run.py --serve``: FakeLLMServer plus a per-request log and a reset, on a free port.

    ``nodelay`` sets TCP_NODELAY on accepted connections, as production servers (uvicorn,
    vLLM, llama.cpp) do. ``http.server`` leaves Nagle's algorithm on, and it writes a response's
    headers and body in two ``send`` calls: the body then waits for the client's delayed ACK
    (40 ms on Linux), which would add ~40 ms to every request and be charged to the runner.
    """
    from evoprompt.testing.server import FakeLLMServer

    class BenchServer(FakeLLMServer):
        def __init__(self) -> None:
            self.log: list[tuple[float, float, str]] = []
            self._tl = threading.local()
            super().__init__(port=0)

        def respond(self, path: str, body: dict[str, Any], authorization: str) -> Any:
            self._tl.kind = "other"
            return super().respond(path, body, authorization)

        def _chat(self, body: dict[str, Any]) -> tuple[str, str]:
            kind, text = super()._chat(body)
            self._tl.kind = kind
            return kind, text

        def reset(self) -> None:
            with self._lock:
                self.counts.clear()
                self.answered_bodies.clear()
                self.peak_inflight = 0
                self.log = []

        def _handler_class(self) -> Any:
            base = super()._handler_class()
            server = self

            class Handler(base):  # type: ignore[misc, valid-type]
                disable_nagle_algorithm = nodelay

                def do_GET(self) -> None:
                    if self.path.rstrip("/") == "/_bench/log":
                        with server._lock:
                            log = list(server.log)
                        doc = {"stats": server.stats(), "log": log, "cpu_s": time.process_time()}
                        self._send(200, {}, doc)
                    else:
                        super().do_GET()

                def do_POST(self) -> None:
                    if self.path.rstrip("/") == "/_bench/reset":
                        self.rfile.read(int(self.headers.get("Content-Length", 0)))
                        server.reset()
                        self._send(200, {}, {"ok": True})
                        return
                    arrived = time.time()
                    super().do_POST()
                    if self.path.endswith("completions"):
                        kind = getattr(server._tl, "kind", "other")
                        with server._lock:
                            server.log.append((arrived, time.time(), kind))

            return Handler

    server = BenchServer()
    print(server.url, flush=True)
    server._httpd.serve_forever()


INSIDE = {
    # (module, class, method): what the time spent in it is charged to
    ("evoprompt.checkpoint.journal", "Journal", "get"): "journal",
    ("evoprompt.checkpoint.journal", "Journal", "put"): "journal",
    ("evoprompt.checkpoint.journal", "Journal", "bump"): "journal",
    ("evoprompt.checkpoint.journal", "Journal", "record_failure"): "journal",
    ("evoprompt.core.engine", "Engine", "_save_batch"): "batch_saves",
    ("evoprompt.core.engine", "Engine", "_save_generation"): "generation_saves",
    ("evoprompt.core.engine", "Engine", "_save_stop"): "generation_saves",
}


def instrumented(out: Path, tree: Path, argv: list[str]) -> int:
    """``run.py --instrumented OUT --tree DIR -- ARGS``: the CLI, timing the checkpoint code.

    Wall seconds spent inside the journal (on the event loop: everything waits) and inside the
    engine's batch / generation saves (on the checkpoint thread: one worker, or at the end of a
    generation the whole loop, waits) are written to OUT as JSON when the run ends.
    """
    import functools
    import importlib

    sys.path.insert(0, str(tree))
    totals = dict.fromkeys(INSIDE.values(), 0.0)
    for (module, cls_name, method), bucket in INSIDE.items():
        cls = getattr(importlib.import_module(module), cls_name)
        original = getattr(cls, method)

        def timed(*args: Any, _f: Any = original, _b: str = bucket, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_b] += time.perf_counter() - started

        setattr(cls, method, functools.wraps(original)(timed))
    from evoprompt.cli.main import main as cli_main

    try:
        return cli_main(argv)
    finally:
        out.write_text(json.dumps(totals))


class Endpoint:
    """The benchmark's view of the server process."""

    def __init__(self, *, nagle: bool = False) -> None:
        serve_flags = ["--serve", *(["--endpoint-nagle"] if nagle else [])]
        self.proc = subprocess.Popen(
            [PY, str(Path(__file__).resolve()), *serve_flags],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("the benchmark endpoint did not start")
        self.root = self.url.rsplit("/v1", 1)[0]

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.root + path, data=data, method="POST" if data else "GET"
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def reset(self, latency: float) -> None:
        self._call("/_faults", {"latency": latency})
        self._call("/_bench/reset", {})

    def snapshot(self) -> dict[str, Any]:
        return self._call("/_bench/log")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- runs of the real CLI --------------------------------------------------------------------


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
    phases: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log.sort()
        for arrived, done, kind in self.log:
            if self.phases and self.phases[-1]["kind"] == kind:
                phase = self.phases[-1]
                phase["n"] += 1
                phase["end"] = max(phase["end"], done)
            else:
                self.phases.append({"kind": kind, "n": 1, "start": arrived, "end": done})

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
        return sum(math.ceil(p["n"] / c) for p in self.phases) * self.latency

    @property
    def ideal_flat(self) -> float:
        return self.requests * self.latency / self.concurrency

    @property
    def first_request_s(self) -> float:
        return self.log[0][0] - self.started

    def phase_gaps(self) -> float:
        """Time between phases (the runner alone: selection, saves) inside the span."""
        return self.span - sum(p["end"] - p["start"] for p in self.phases)


def cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EVOPROMPT_"))}
    env.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")
    return env


class Runner:
    def __init__(self, endpoint: Endpoint, dataset: Path, plan: Plan, tree: Path = ROOT):
        self.main = tree / "main.py"
        self.endpoint = endpoint
        self.dataset = dataset
        self.plan = plan
        self.results = WORK / "result"
        self.env = cli_env(endpoint.url)
        self.runs: list[Run] = []

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
            entry = [str(Path(__file__).resolve()), "--instrumented", str(inside_path)]
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
        run = Run(
            label=exp_id,
            concurrency=concurrency,
            latency=latency,
            rc=proc.returncode,
            started=started,
            ended=ended,
            maxrss_kb=usage.ru_maxrss,
            cpu_s=usage.ru_utime + usage.ru_stime,
            server_cpu_s=snap["cpu_s"] - server_cpu,
            log=[tuple(x) for x in snap["log"]],
            exp_dir=exp_dir,
            peak_inflight=snap["stats"].get("peak_inflight", 0),
            inside=json.loads(inside_path.read_text()) if instrument else {},
        )
        self.runs.append(run)
        return run

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
        p = self.plan
        flags = self.workload(p.population, p.dev, p.generations)
        if not checkpoint:
            flags.append("--no-checkpoint")
        run = self.experiment(
            exp_id, flags, concurrency=concurrency, latency=LATENCY, instrument=instrument
        )
        say(describe(run))
        return run


# -- helpers ---------------------------------------------------------------------------------


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


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def disk_per_1000(run: Run) -> dict[str, float]:
    journal = size_of(run.exp_dir / "journal.sqlite") + size_of(run.exp_dir / "journal.sqlite-wal")
    checkpoints = size_of(run.exp_dir / "checkpoints")
    per = 1000 / max(run.requests, 1)
    return {
        "requests": run.requests,
        "journal_bytes": journal,
        "checkpoints_bytes": checkpoints,
        "journal_per_1000": journal * per,
        "checkpoints_per_1000": checkpoints * per,
    }


def time_command(argv: list[str], trials: int, cwd: Path = ROOT) -> float:
    subprocess.run(argv, cwd=cwd, check=True)  # warm the file cache
    times = []
    for _ in range(trials):
        started = time.time()
        subprocess.run(argv, cwd=cwd, check=True)
        times.append(time.time() - started)
    return statistics.median(times)


def median_run(runs: list[Run]) -> Run:
    ordered = sorted(runs, key=lambda r: r.span)
    return ordered[(len(ordered) - 1) // 2]


def kib(n: float) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 2**20:,.1f} MiB"


def machine() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit or "unknown",
    }


# -- the benchmark ---------------------------------------------------------------------------


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
        "inside_on": {b: inside(on, b) for b in ("journal", "batch_saves", "generation_saves")},
        "inside_off": {b: inside(off, b) for b in ("journal", "batch_saves", "generation_saves")},
        # the event loop waits for journal calls and generation saves; a batch save holds one
        # of the C workers (the others keep the endpoint busy)
        "share_direct": (sum(delta.values()) + batch / concurrency) / med_off,
        "share_direct_max": (sum(delta.values()) + batch) / med_off,
    }


def benchmark(
    plan: Plan, sections: tuple[str, ...], *, nagle: bool = False, tree: Path = ROOT
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    shutil.rmtree(WORK / "result", ignore_errors=True)
    shutil.rmtree(WORK / "pristine", ignore_errors=True)
    shutil.rmtree(WORK / "logs", ignore_errors=True)
    dataset = WORK / f"bench_{plan.dataset_rows}.csv"
    make_dataset(dataset, plan.dataset_rows)

    if "startup" in sections or "resume" in sections:
        say(f"interpreter start-up (median of {plan.startup_trials})")
        out["python_pass_s"] = time_command([PY, "-c", "pass"], plan.startup_trials)
        out["python_import_s"] = time_command(
            [PY, "-c", "import evoprompt.cli.run"], plan.startup_trials, cwd=tree
        )
        say(
            f"  python -c pass {out['python_pass_s']:.3f}s; "
            f"import evoprompt.cli.run {out['python_import_s']:.3f}s"
        )

    endpoint = Endpoint(nagle=nagle)
    try:
        runner = Runner(endpoint, dataset, plan, tree)
        scaling: dict[int, Run] = {}
        if "scaling" in sections:
            say("scaling, C=8 (checkpoint on)")
            scaling[8] = runner.standard("c8", 8)
        if {"scaling", "overhead", "baseline"} & set(sections):
            say(f"checkpoint + journal on/off at C=32, {plan.pairs} alternated pair(s)")
            on: list[Run] = []
            off: list[Run] = []
            for i in range(plan.pairs):
                for checkpoint in (True, False) if i % 2 == 0 else (False, True):
                    name = f"c32_{'on' if checkpoint else 'off'}{len(on if checkpoint else off)}"
                    run = runner.standard(name, 32, checkpoint=checkpoint, instrument=True)
                    (on if checkpoint else off).append(run)
            scaling[32] = median_run(on)
            out["overhead"] = overhead(on, off)
            out["disk_c32"] = disk_per_1000(scaling[32])
        if {"scaling", "baseline"} & set(sections):
            say("baseline: one call at a time, C=1 (checkpoint on)")
            scaling[1] = runner.standard("c1", 1)
            out["baseline"] = {
                "span_ratio": scaling[32].span / scaling[1].span,
                "process_ratio": scaling[32].wall / scaling[1].wall,
            }
        out["scaling"] = {
            c: {
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
                        "kind": p["kind"],
                        "n": p["n"],
                        "span": p["end"] - p["start"],
                        "ideal": math.ceil(p["n"] / c) * r.latency,
                    }
                    for p in r.phases
                ],
            }
            for c, r in sorted(scaling.items())
        }

        if "resume" in sections:
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
            out["resume"] = {
                "history_generations": plan.history,
                "history_requests": hist.requests,
                "trials": firsts,
                "first_request_s": first,
                "beyond_interpreter_s": first - out["python_pass_s"],
                "beyond_imports_s": first - out["python_import_s"],
            }

        if "memory" in sections:
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
            out["memory"] = {
                "population": p.mem_population,
                "dev": p.mem_dev,
                "requests": run.requests,
                "wall": run.wall,
                "maxrss_kib": run.maxrss_kb,
                "runner_cpu_ms": 1000 * run.cpu_s / run.requests,
            }
            out["disk_memory"] = disk_per_1000(run)
    finally:
        endpoint.close()
    return out


# -- report ----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def table(out: dict[str, Any], plan: Plan) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    sc = out.get("scaling", {})
    for c in (1, 8, 32):
        s = sc.get(c)
        if s is None:
            continue
        target = f"<= {TARGET_RATIO}" if c > 1 else "(reference)"
        result = verdict(s["ratio"] <= TARGET_RATIO) if c > 1 else "-"
        rows.append(
            (
                f"wall / ideal, C={c}",
                f"{s['ratio']:.2f} ({s['span']:.2f}s / {s['ideal_phased']:.2f}s; "
                f"process {s['ratio_process']:.2f})",
                target,
                result,
            )
        )
    if "overhead" in out:
        o = out["overhead"]
        rows.append(
            (
                "checkpoint+journal overhead, C=32",
                f"{100 * o['share']:+.1f}% (medians {o['median_on']:.2f}s on / "
                f"{o['median_off']:.2f}s off; paired {100 * min(o['paired']):+.0f}%.."
                f"{100 * max(o['paired']):+.0f}%; measured inside: "
                f"{100 * o['share_direct']:.1f}%, at most {100 * o['share_direct_max']:.1f}%)",
                f"<= {100 * TARGET_OVERHEAD:.0f}%",
                verdict(o["share"] <= TARGET_OVERHEAD),
            )
        )
    if "baseline" in out:
        b = out["baseline"]
        rows.append(
            (
                "C=32 / sequential baseline (C=1)",
                f"{b['span_ratio']:.3f} (process {b['process_ratio']:.3f})",
                "< 1 (beat it)",
                verdict(b["span_ratio"] < 1),
            )
        )
    if "resume" in out:
        r = out["resume"]
        rows.append(
            (
                f"resume, {r['history_generations']} gens: start -> first request",
                f"{r['first_request_s']:.3f}s = {r['beyond_interpreter_s']:.3f}s beyond "
                f"`python -c pass` ({out['python_pass_s']:.3f}s); "
                f"{r['beyond_imports_s']:.3f}s beyond imports ({out['python_import_s']:.3f}s)",
                f"<= {TARGET_RESUME_S:.0f} s beyond interpreter",
                verdict(r["beyond_interpreter_s"] <= TARGET_RESUME_S),
            )
        )
    if "memory" in out:
        m = out["memory"]
        rows.append(
            (
                f"peak RSS, pop {m['population']} x dev {m['dev']}",
                f"{m['maxrss_kib'] / 1024:.0f} MiB ({m['requests']} requests, {m['wall']:.0f}s)",
                "(reference)",
                "-",
            )
        )
    for key, name in (("disk_c32", "C=32 run"), ("disk_memory", "memory run")):
        if key in out:
            d = out[key]
            rows.append(
                (
                    f"disk per 1,000 requests ({name})",
                    f"journal {kib(d['journal_per_1000'])}, checkpoints/ "
                    f"{kib(d['checkpoints_per_1000'])} ({d['requests']} requests)",
                    "(reference)",
                    "-",
                )
            )
    return rows


def render(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("measure", "value", "target", "result")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *map(line, rows)])


def phases_md(out: dict[str, Any]) -> list[str]:
    lines = [
        "| C | requests | span s | ideal (per phase) s | ideal (flat) s | ratio | "
        "ratio (flat) | process s | first request s | gaps s | runner CPU ms/req | "
        "server CPU ms/req | peak in flight |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c, s in sorted(out.get("scaling", {}).items()):
        lines.append(
            f"| {c} | {s['requests']} | {s['span']:.2f} | {s['ideal_phased']:.2f} | "
            f"{s['ideal_flat']:.2f} | {s['ratio']:.2f} | {s['ratio_flat']:.2f} | "
            f"{s['wall']:.2f} | {s['first_request_s']:.2f} | {s['gaps']:.2f} | "
            f"{s['runner_cpu_ms']:.2f} | {s['server_cpu_ms']:.2f} | {s['peak_inflight']} |"
        )
    lines += ["", "Phases (requests, span / ideal in s):", ""]
    for c, s in sorted(out.get("scaling", {}).items()):
        parts = [f"{p['kind']} {p['n']} ({p['span']:.2f}/{p['ideal']:.2f})" for p in s["phases"]]
        lines.append(f"- C={c}: " + ", ".join(parts))
    return lines


def write_report(
    out: dict[str, Any],
    plan: Plan,
    rows: list[tuple[str, str, str, str]],
    command: str,
    total: float,
) -> None:
    m = machine()
    lines = [
        "# Benchmark results",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  ",
        f"Machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, {m['platform']}  ",
        f"Commit: {m['commit']} (plus uncommitted changes, if any)  ",
        f"Command: `{command}` ({'quick smoke version' if plan is QUICK else 'full'}), "
        f"total {total:.0f}s",
        "",
        f"Workload: population {plan.population}, dev {plan.dev}, {plan.generations} "
        f"generation(s), latency {LATENCY * 1000:.0f} ms, GA, loopback endpoint in its own "
        "process. See the docstring of `benchmarks/run.py` for how each figure is measured.",
        "",
        "```",
        render(rows),
        "```",
        "",
        "*wall* = server span (first request's arrival to last request's completion); "
        "*ideal* = sum over phases of ceil(requests / C) x L; *process* = whole process "
        "(spawn to exit) over the same ideal.",
        "",
        "## Scaling details",
        "",
        *phases_md(out),
    ]
    if "overhead" in out:
        o = out["overhead"]
        spans = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(o["on_spans"], o["off_spans"]))
        lines += [
            "",
            "## Checkpoint + journal on/off (C=32)",
            "",
            f"- spans on/off, in run order by pair (s): {spans}",
            "- paired differences: " + ", ".join(f"{100 * x:+.1f}%" for x in o["paired"]),
            f"- whole process: {100 * o['share_process']:+.1f}% (medians)",
            "- measured inside the runner (median seconds per run, on / off): "
            + "; ".join(
                f"{k.replace('_', ' ')} {o['inside_on'][k]:.3f} / {o['inside_off'][k]:.3f}"
                for k in o["inside_on"]
            ),
            "- direct share = (extra journal time + extra generation-save time + batch-save time "
            f"/ C) / off span = {100 * o['share_direct']:.2f}% (counting batch saves in full: "
            f"{100 * o['share_direct_max']:.2f}%)",
        ]
    if "resume" in out:
        r = out["resume"]
        lines += [
            "",
            "## Resume",
            "",
            f"History: {r['history_generations']} generations, {r['history_requests']} requests. "
            "Trials (spawn to first request, s): " + ", ".join(f"{x:.3f}" for x in r["trials"]),
        ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Performance benchmark (SPEC section 9).")
    parser.add_argument("--quick", action="store_true", help="small smoke version (~1 minute)")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write RESULTS.md")
    parser.add_argument(
        "--endpoint-nagle",
        action="store_true",
        help="leave Nagle's algorithm on in the endpoint (http.server's default): shows the "
        "40 ms delayed-ACK stall per request that a real server does not have",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="run DIR/main.py (another copy of the project, for before/after comparisons); "
        "its own evoprompt/ package is imported since Python puts the script's folder first",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--instrumented", type=Path, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    cli_args: list[str] = []
    if "--" in argv:
        cli_args = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    args = parser.parse_args(argv)
    if args.instrumented:
        return instrumented(args.instrumented, args.tree.resolve(), cli_args)
    if args.serve:
        serve(nodelay=not args.endpoint_nagle)
        return 0
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    plan = QUICK if args.quick else FULL
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.time()
    out = benchmark(plan, sections, nagle=args.endpoint_nagle, tree=args.tree.resolve())
    total = time.time() - started
    rows = table(out, plan)
    say("")
    say(render(rows))
    say(f"\ntotal {total:.0f}s")
    (WORK / "results.json").write_text(json.dumps(out, indent=2, default=str))
    if not args.no_report:
        command = " ".join(["python benchmarks/run.py", *sys.argv[1:]])
        write_report(out, plan, rows, command.strip(), total)
        say(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
