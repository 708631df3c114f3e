"""The verdict table printed at the end and benchmarks/RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from . import cpu, local_report, pruning, stream, whole
from .plan import LATENCY, QUICK, RESULTS, ROOT, Plan

TARGET_RATIO = 1.15
TARGET_OVERHEAD = 0.03
TARGET_RESUME_S = 1.0

Row = tuple[str, str, str, str]


def verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def kib(n: float) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 2**20:,.1f} MiB"


def table(out: dict[str, Any]) -> list[Row]:
    """One row per figure: measure, value, target, result."""
    rows: list[Row] = []
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
    rows += whole.rows(out) + cpu.rows(out) + pruning.rows(out) + stream.rows(out)
    rows += local_report.rows(out)
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


def render(rows: list[Row]) -> str:
    """The rows as an aligned plain-text table."""
    head = ("measure", "value", "target", "result")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()

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


def overhead_md(o: dict[str, Any]) -> list[str]:
    spans = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(o["on_spans"], o["off_spans"]))
    return [
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


def resume_md(r: dict[str, Any]) -> list[str]:
    return [
        "",
        "## Resume",
        "",
        f"History: {r['history_generations']} generations, {r['history_requests']} requests. "
        "Trials (spawn to first request, s): " + ", ".join(f"{x:.3f}" for x in r["trials"]),
    ]


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


def write_report(
    out: dict[str, Any], plan: Plan, rows: list[Row], command: str, total: float
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
        lines += overhead_md(out["overhead"])
    if "resume" in out:
        lines += resume_md(out["resume"])
    lines += whole.md(out) + cpu.md(out) + pruning.md(out, plan) + local_report.md(out)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
