"""The public-task table's files: PUBLIC.md, public.json and public.png, from the rows and
cells of :mod:`bench.public_table` (nothing measured here: the same folders give the same
files)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.public_table import TASKS, Cell, read_cells, rows
from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.sweep.state import read_record


def _acc(spread: dict[str, Any]) -> str:
    std = f" ± {spread['std']:.3f}" if spread["std"] is not None else ""
    return f"{spread['mean']:.3f}{std} (n={spread['n']})"


def _ci(spread: dict[str, Any], sign: str = "") -> str:
    if spread["ci_low"] is None:
        return "n/a (one seed)"
    return f"[{spread['ci_low']:{sign}.3f}, {spread['ci_high']:{sign}.3f}]"


def _wall(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def is_manual(row: dict[str, Any]) -> bool:
    """A baseline row: the best manual prompt by dev (with exemplars on a few-shot run)."""
    return str(row["method"]).startswith("manual")


def verdict(row: dict[str, Any]) -> str:
    """One line: did the method beat the manual prompt, by the statistics of the row."""
    gain, n = row["gain"], row["gain"]["n"]
    task = TASKS.get(row["task"], row["task"])
    where = f"{task}, {row['method']}: mean gain {gain['mean']:+.3f}"
    kept = (
        f" (in {row['kept_manual']} of {n} the best prompt by dev was still the manual one)"
        if row["kept_manual"]
        else ""
    )
    if gain["ci_low"] is not None and gain["ci_low"] > 0:
        said = f"{where}, interval above 0; significant in {row['significant']} of {n} seeds"
    elif row["significant"]:
        said = f"{where}, interval includes 0; significant in {row['significant']} of {n} seeds"
    else:
        seeds = "the one seed" if n == 1 else f"any of {n} seeds"
        said = f"{where}: no significant gain in {seeds}"
    return said + kept


def source(
    sweeps: list[Path], cells: list[Cell], total: int, config: dict[str, Any]
) -> dict[str, Any]:
    """What the table's header says, as data (public.json keeps it, so the README test can
    render it again): the sweeps, when they last changed, the model, sizes and cell counts."""
    keys = ("model", "backend", "scorer", "population_size", "max_generations", "dev_size")
    return {
        "sweeps": [s.name for s in sweeps],
        "updated": max(read_record(s).updated for s in sweeps),
        "config": {k: config.get(k) for k in (*keys, "test_size")},
        "seeds": sorted({c.seed for c in cells}),
        "finished": len(cells),
        "total": total,
    }


def header(src: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(src["updated"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    seeds = ", ".join(str(s) for s in src["seeds"]) or "none"
    names = ", ".join(f"`{s}`" for s in src["sweeps"])
    config, finished, total = src["config"], src["finished"], src["total"]
    return (
        f"Sweep {names}, last changed {when}: model `{config.get('model', '?')}` "
        f"({config.get('backend', '?')}, scored by {config.get('scorer', '?')}); population "
        f"{config.get('population_size')}, generations {config.get('max_generations')}, dev "
        f"{config.get('dev_size')} rows, test {config.get('test_size')} rows, seeds {seeds}; "
        f"{finished} of {total} cells finished"
        + ("." if finished >= total else " so far: the same command goes on with the rest.")
    )


def headline(intro: str, table: list[dict[str, Any]]) -> str:
    """The summary: where the table came from, a row per task and method, where evolution
    helped. PUBLIC.md opens with it and the README's headline is it, word for word."""
    lines = [
        intro,
        "",
        "| task | method | test accuracy, mean ± std | 95% CI of the mean | gain vs manual "
        "[95% CI] | significant gains (p < 0.05) | calls | tokens | cost USD | wall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        task = TASKS.get(row["task"], row["task"])
        if is_manual(row):
            lines.append(
                f"| {task} | {row['method']} (best on dev) | {_acc(row['test'])} "
                f"| {_ci(row['test'])} | | | | | | |"
            )
            continue
        gain = row["gain"]
        ps = ", ".join(f"{p:.3g}" for p in row["p_values"])
        lines.append(
            f"| {task} | {row['method']} | {_acc(row['test'])} | {_ci(row['test'])} "
            f"| {gain['mean']:+.3f} {_ci(gain, '+')} | {row['significant']} of "
            f"{gain['n']} (p: {ps}) | {row['calls']:,} | {row['tokens']:,} "
            f"| {row['cost_usd']:.2f} | {_wall(row['wall_s'])} |"
        )
    lines += [
        "",
        "Test accuracy is on held-out rows no prompt was selected on; *manual* is the manual "
        "prompt with the best dev score, judged on the same rows. The gain is each seed's best "
        "evolved prompt minus that manual prompt on the same rows; *significant* counts the "
        "seeds whose gain is positive with McNemar's exact p below 0.05. Calls, tokens, cost "
        "and wall time are whole cells (the manual prompts' scoring included). A few-shot "
        "row's gain is against the row above it: the same manual prompts with the exemplars "
        "generation 0 gave them, the best by dev.",
        "",
        "Where evolution helped:",
        "",
        *[f"- {verdict(row)}" for row in table if not is_manual(row)],
    ]
    return "\n".join(lines) + "\n"


def markdown(intro: str, table: list[dict[str, Any]], cells: list[Cell]) -> str:
    lines = [
        "# Public tasks: evolved prompts against the paper's manual prompts",
        "",
        headline(intro, table),
        "## Cells",
        "",
        "| folder | seed | test | manual | gain | p | calls | wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lines.append(
            f"| {c.folder} | {c.seed} | {c.test:.3f} | {c.manual:.3f} | {c.gain:+.3f} "
            f"| {c.p_value:.3g} | {c.calls:,} | {_wall(c.wall_s)} |"
        )
    return "\n".join(lines) + "\n"


README_START = "<!-- public-table: written by benchmarks/public.py, do not edit -->"
README_END = "<!-- public-table end -->"


class MarkersMissing(ValueError):
    """The README has lost the markers its headline is written between."""


def into_readme(readme: Path, intro: str, table: list[dict[str, Any]]) -> None:
    """Put the headline between the README's markers (an atomic write: a kill leaves the old
    README or the new one)."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise MarkersMissing(
            f"{readme} has no {README_START!r} ... {README_END!r} markers: put them back where "
            "the headline table goes, or pass --no-readme"
        )
    before, rest = text.split(README_START, 1)
    after = rest.split(README_END, 1)[1]
    block = f"{README_START}\n{headline(intro, table)}{README_END}"
    atomic_write_text(readme, before + block + after)


def figure(table: list[dict[str, Any]], cells: list[Cell], path: Path) -> None:
    """Test accuracy per task and method: the mean with its 95% interval, each seed a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # wide enough for every label: 15 rows of "AG News / GA / + 4-shot" overlapped at 8 inches
    fig, ax = plt.subplots(figsize=(max(8.0, 0.75 * len(table)), 4.5))
    labels = []
    for x, row in enumerate(table):
        spread = row["test"]
        low = spread["ci_low"] if spread["ci_low"] is not None else spread["mean"]
        high = spread["ci_high"] if spread["ci_high"] is not None else spread["mean"]
        ax.errorbar(
            x,
            spread["mean"],
            yerr=[[spread["mean"] - low], [high - spread["mean"]]],
            fmt="o",
            color="black" if is_manual(row) else "tab:blue",
            capsize=4,
        )
        seeds = [c for c in cells if c.folder in row["cells"]]
        ax.scatter(
            [x + 0.15] * len(seeds),
            [c.manual if is_manual(row) else c.test for c in seeds],
            s=10,
            color="gray",
        )
        method = str(row["method"]).replace(" + ", "\n+ ")  # "GA + 4-shot": one part a line
        labels.append(f"{TASKS.get(row['task'], row['task'])}\n{method}")
    ax.set_xticks(range(len(table)), labels, fontsize=7)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)  # an interval of few seeds can pass the bounds: shown clipped
    ax.set_title("Held-out test accuracy: mean, 95% interval across seeds, each seed")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def write(sweeps: list[Path], out: Path, total: int, readme: Path | None = None) -> str:
    """Write PUBLIC.md, public.json and public.png into ``out`` from the sweeps' folders,
    and the headline into ``readme`` (between its markers); return the markdown. ``total``:
    the cells of every sweep the benchmark runs, begun or not."""
    cells: list[Cell] = []
    config: dict[str, Any] = {}
    for sweep in sweeps:
        found, first = read_cells(sweep)
        cells += found
        config = config or first
    table = rows(cells)
    src = source(sweeps, cells, total, config)
    intro = header(src)
    text = markdown(intro, table, cells)
    out.mkdir(parents=True, exist_ok=True)
    # atomic, as the README's block is: a kill leaves each file old or new, never half
    atomic_write_text(out / "PUBLIC.md", text)
    doc = {"source": src, "rows": table, "cells": [asdict(c) for c in cells]}
    atomic_write_text(out / "public.json", json.dumps(doc, indent=1) + "\n")
    if table:
        figure(table, cells, out / "public.png")
    if readme is not None:
        into_readme(readme, intro, table)
    return text
