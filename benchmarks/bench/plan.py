"""Where the benchmark works and how big each mode is."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "run.py"  # re-spawned as the endpoint and the instrumented CLI
WORK = ROOT / "benchmarks" / "_work"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PY = sys.executable
LATENCY = 0.05
SECTIONS = (
    "startup", "scaling", "overhead", "baseline", "resume", "memory", "whole", "cpu", "pruning",
    "stream", "local",
)  # fmt: skip


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
    whole_generations: int = 3  # the whole-run figure: population x dev as above, C=32, 100 ms
    whole_latency: float = 0.1
    cpu_trials: int = 3  # zero-latency runs (and bare transport loops) for CPU per call
    prune_dev: int = 150  # pruning and the dry run: the built-in sentiment set
    prune_generations: int = 3
    worse_children: float = 0.5  # the realistic endpoint: half the children lose a magic word
    skill: float = 0.5  # ...and its prompts score 0.85-0.95 on sentiment, as a real model's do
    hard_rows: float = 0.5  # ...and they miss the same hard samples, as a real model's do
    prune_seeds: tuple[int, ...] = (1, 2, 3)  # GA on that endpoint again: how much seeds vary
    stream_spread: float = 2.0  # whole runs whose operator replies arrive over this many seconds
    local_rows: int = 25  # the embedded model: rows per workload (the first one is not timed)
    local_rounds: int = 2  # ...rounds of every contender, in rotating order
    local_threads: int | None = None  # ...threads of the timed contenders (None: every core)
    agree_rows: int = 186  # cached vs uncached agreement: rows (+ N/A) x 4 prompts, 3 passes


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
    whole_generations=1,
    cpu_trials=1,
    prune_dev=32,
    prune_generations=1,
    prune_seeds=(),
    stream_spread=0.5,
    local_rows=5,
    local_rounds=1,
    agree_rows=4,
)
