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
7. the whole run (``bench/whole.py``): population 10, dev 200, 3 generations, C = 32, L = 100 ms,
   from spawn to exit over the same per-phase ideal, and spawn to first request of that fresh
   experiment.
8. CPU per call (``bench/cpu.py``): the runner's rusage CPU over its requests at zero latency,
   C = 32, next to the transport floor, a bare loop of the runner's own transport
   (``bench/floor.py``) against the same endpoint process; both again with ``--http-client
   httpx`` for reference.
9. pruning and the dry run (``bench/pruning.py``): calls saved on GA and DE with the identical
   summary, on the default test endpoint and on one whose children are sometimes worse
   (``worse_children``), GA's ceiling (``bench/ceiling.py``: what exact pruning would save on
   the unpruned run had every losing child known its final bar from its first row), and the
   dry run's estimate against the unpruned run's calls.
10. breeding and scoring overlapped (``bench/stream.py``): GA and DE whole runs whose operator
   replies arrive over 0-2 s, wall time and classification calls (compare trees with
   ``--tree``).

11. the embedded model (``bench/local_model.py``, ``--only local``, which updates only its own
   section of the report): label-scoring calls/s and tokens/s of the local backend on a short
   and a few-shot prompt, beside a bare from-scratch loop over the same binding and
   llama-cpp-python's server; 1 against 2 threads; cached against uncached logprobs.

Work files go to ``benchmarks/_work/`` (git-ignored); the report to ``benchmarks/RESULTS.md``.
The parts live in ``benchmarks/bench/``: the endpoint (``server``), the dataset and the CLI
runs (``workload``), one module per measurement, and the report (``report``).
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.baseline import baseline, sequential
from bench.cpu import cpu
from bench.disk import disk_per_1000
from bench.instrument import instrumented
from bench.local_model import local_model
from bench.local_report import splice
from bench.memory import memory
from bench.overhead import on_off_pairs, overhead
from bench.plan import FULL, QUICK, RESULTS, ROOT, SECTIONS, WORK, Plan
from bench.pruning import pruning
from bench.report import render, table, write_report
from bench.resume import resume, startup
from bench.scaling import median_run, scaling
from bench.server import Endpoint, serve
from bench.stream import stream
from bench.whole import whole
from bench.workload import Run, Runner, make_dataset, say


def benchmark(
    plan: Plan, sections: tuple[str, ...], *, nagle: bool = False, tree: Path = ROOT
) -> dict[str, Any]:
    """The selected measurements, in an order that lets later ones reuse earlier runs."""
    out: dict[str, Any] = {}
    # Bytecode as an installed tool runs from (pip compiles what it installs; an editable
    # checkout's first run writes it): start-up figures measure the runner, not the compiler,
    # even where PYTHONDONTWRITEBYTECODE is set or the sources just changed.
    compileall.compile_dir(tree / "evoprompt", quiet=1)
    for folder in ("result", "pristine", "logs"):
        shutil.rmtree(WORK / folder, ignore_errors=True)
    dataset = WORK / f"bench_{plan.dataset_rows}.csv"
    make_dataset(dataset, plan.dataset_rows)
    if "startup" in sections or "resume" in sections:
        out.update(startup(plan, tree))

    endpoint = Endpoint(nagle=nagle)
    try:
        runner = Runner(endpoint, dataset, plan, tree)
        runs: dict[int, Run] = {}
        if "scaling" in sections:
            say("scaling, C=8 (checkpoint on)")
            runs[8] = runner.standard("c8", 8)
        if {"scaling", "overhead", "baseline"} & set(sections):
            on, off = on_off_pairs(runner, plan.pairs)
            runs[32] = median_run(on)
            out["overhead"] = overhead(on, off)
            out["disk_c32"] = disk_per_1000(runs[32])
        if {"scaling", "baseline"} & set(sections):
            runs[1] = sequential(runner)
            out["baseline"] = baseline(runs[32], runs[1])
        out["scaling"] = scaling(runs)
        if "resume" in sections:
            out["resume"] = resume(runner, plan, out["python_pass_s"], out["python_import_s"])
        if "memory" in sections:
            out["memory"], out["disk_memory"] = memory(runner, plan)
        if "whole" in sections:
            out["whole"] = whole(runner, plan)
        if "cpu" in sections:
            out["cpu"] = cpu(runner, plan)
    finally:
        endpoint.close()
    if "pruning" in sections:
        out["pruning"] = pruning(plan)
    if "stream" in sections:
        out["stream"] = stream(plan, tree)
    if "local" in sections:
        out["local"] = local_model(plan)
    return out


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
    rows = table(out)
    say("")
    say(render(rows))
    say(f"\ntotal {total:.0f}s")
    (WORK / "results.json").write_text(json.dumps(out, indent=2, default=str))
    if not args.no_report and sections == ("local",):
        splice(out)  # the rest of the report stays as the last full run wrote it
        say(f"updated its section of {RESULTS.relative_to(ROOT)}")
    elif not args.no_report:
        command = " ".join(["python benchmarks/run.py", *sys.argv[1:]])
        write_report(out, plan, rows, command.strip(), total)
        say(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
