"""The public-task table, recomputed from the sweep's result folders alone.

Every figure comes from files the runs wrote: each cell's ``summary.json`` (its best prompt's
test score, the best manual prompt's test score on the same rows, the paired test between the
two, calls, tokens, cost, wall time) and ``config.json`` (model, sizes), and the sweep's
``sweep.json`` (its cells and when it last changed). Nothing is measured here, so the table
can be written again from the folders at any time and comes out the same
(``benchmarks/public.py --table-only``); ``public.json`` holds the same figures with the cell
each one came from.

Rows per task: *manual*, the best of the manual prompts by dev score, judged on the test rows
(one value per seed: the GA and DE cells of a seed share the dev split, the test rows and the
manual prompts, so the first finished cell of that seed gives it); then each evolved method.
Across seeds: mean, sample std (ddof=1) and the 95% Student-t interval of the mean, as the
sweep's aggregate.csv computes them; per cell, the paired test (McNemar, exact) of the best
evolved prompt against the manual one on the same test rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import read_text
from evoprompt.sweep.aggregate import t_interval
from evoprompt.sweep.figures import TestSection, read_figures
from evoprompt.sweep.state import read_record

ALPHA = 0.05
TASKS = {"sst2": "SST-2", "subj": "Subj", "agnews": "AG News"}


@dataclass(frozen=True)
class Cell:
    """One finished cell's figures, and where they came from."""

    id: str
    folder: str
    task: str
    method: str
    seed: int
    test: float
    manual: float
    gain: float
    p_value: float
    calls: int
    tokens: int
    cost: float
    wall_s: float


def method_of(config: dict[str, Any]) -> str:
    """GA, DE, or either with few-shot examples (a ``shots`` setting above 0)."""
    name = str(config["algorithm"]).upper()
    shots = int(config.get("shots", 0) or 0)
    return f"{name} + {shots}-shot" if shots else name


def read_cells(sweep_dir: Path) -> tuple[list[Cell], int, dict[str, Any]]:
    """The sweep's finished cells with a test verdict, the number of cells in its grid, and
    the config of its first cell (model and sizes)."""
    record = read_record(sweep_dir)
    cells: list[Cell] = []
    first: dict[str, Any] = {}
    for entry in record.cells:
        folder = sweep_dir / entry.id
        figures = read_figures(folder)
        if figures is None or figures.status != "finished":
            continue
        raw = json.loads(read_text(Layout(folder).summary))
        config = json.loads(read_text(Layout(folder).config))
        first = first or config
        section = TestSection.from_json(raw["test"]) if raw.get("test") else None
        if section is None or figures.test is None or section.delta is None:
            continue
        manual = section.of_baseline()
        assert manual is not None, f"{folder}: the baseline prompt has no test score"
        cells.append(
            Cell(
                id=entry.id,
                folder=f"{sweep_dir.name}/{entry.id}",
                task=str(config["dataset"]),
                method=method_of(config),
                seed=int(config["seed"]),
                test=figures.test,
                manual=manual,
                gain=section.delta,
                p_value=section.p_value if section.p_value is not None else 1.0,
                calls=figures.calls,
                tokens=figures.tokens,
                cost=figures.cost,
                wall_s=figures.wall_s,
            )
        )
    return cells, len(record.cells), first


def _spread(values: list[float]) -> dict[str, Any]:
    low, high = t_interval(values)
    mean = sum(values) / len(values)
    std = (
        (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        if len(values) > 1
        else None
    )
    return {"n": len(values), "mean": mean, "std": std, "ci_low": low, "ci_high": high}


def rows(cells: list[Cell]) -> list[dict[str, Any]]:
    """The table's rows: per task (in TASKS order, then any other), manual then each method."""
    tasks = sorted(
        {c.task for c in cells}, key=lambda t: (list(TASKS).index(t) if t in TASKS else 99, t)
    )
    out: list[dict[str, Any]] = []
    for task in tasks:
        mine = [c for c in cells if c.task == task]
        by_seed: dict[int, Cell] = {}
        for cell in mine:
            by_seed.setdefault(cell.seed, cell)
        manual = [by_seed[s] for s in sorted(by_seed)]
        out.append(
            {
                "task": task,
                "method": "manual",
                "test": _spread([c.manual for c in manual]),
                "cells": [c.folder for c in manual],
            }
        )
        for method in dict.fromkeys(c.method for c in mine):
            chosen = sorted((c for c in mine if c.method == method), key=lambda c: c.seed)
            out.append(
                {
                    "task": task,
                    "method": method,
                    "test": _spread([c.test for c in chosen]),
                    "gain": _spread([c.gain for c in chosen]),
                    "significant": sum(c.gain > 0 and c.p_value < ALPHA for c in chosen),
                    "p_values": [c.p_value for c in chosen],
                    "calls": sum(c.calls for c in chosen),
                    "tokens": sum(c.tokens for c in chosen),
                    "cost_usd": sum(c.cost for c in chosen),
                    "wall_s": sum(c.wall_s for c in chosen),
                    "cells": [c.folder for c in chosen],
                }
            )
    return out


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


def verdict(row: dict[str, Any]) -> str:
    """One line: did the method beat the manual prompt, by the statistics of the row."""
    gain, n = row["gain"], row["gain"]["n"]
    task = TASKS.get(row["task"], row["task"])
    where = f"{task}, {row['method']}: mean gain {gain['mean']:+.3f}"
    if gain["ci_low"] is not None and gain["ci_low"] > 0:
        return f"{where}, interval above 0; significant in {row['significant']} of {n} seeds"
    if row["significant"]:
        return f"{where}, interval includes 0; significant in {row['significant']} of {n} seeds"
    return f"{where}: no significant gain in any of {n} seeds"


def header(sweeps: list[Path], cells: list[Cell], total: int, config: dict[str, Any]) -> str:
    updated = max(read_record(s).updated for s in sweeps)
    when = datetime.fromtimestamp(updated, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    seeds = ", ".join(str(s) for s in sorted({c.seed for c in cells})) or "none"
    names = ", ".join(f"`{s.name}`" for s in sweeps)
    return (
        f"Sweep {names}, last changed {when}: model `{config.get('model', '?')}` "
        f"({config.get('backend', '?')}, scored by {config.get('scorer', '?')}); population "
        f"{config.get('population_size')}, generations {config.get('max_generations')}, dev "
        f"{config.get('dev_size')} rows, test {config.get('test_size')} rows, seeds {seeds}; "
        f"{len(cells)} of {total} cells finished."
    )


def markdown(intro: str, table: list[dict[str, Any]], cells: list[Cell]) -> str:
    lines = [
        "# Public tasks: evolved prompts against the paper's manual prompts",
        "",
        intro,
        "",
        "| task | method | test accuracy, mean ± std | 95% CI of the mean | gain vs manual "
        "[95% CI] | significant gains (p < 0.05) | calls | tokens | cost USD | wall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        task = TASKS.get(row["task"], row["task"])
        if row["method"] == "manual":
            lines.append(
                f"| {task} | manual (best on dev) | {_acc(row['test'])} | {_ci(row['test'])} "
                "| | | | | | |"
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
        "and wall time are whole cells (the manual prompts' scoring included).",
        "",
        "Where evolution helped:",
        "",
        *[f"- {verdict(row)}" for row in table if row["method"] != "manual"],
        "",
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


def figure(table: list[dict[str, Any]], cells: list[Cell], path: Path) -> None:
    """Test accuracy per task and method: the mean with its 95% interval, each seed a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
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
            color="black" if row["method"] == "manual" else "tab:blue",
            capsize=4,
        )
        seeds = [c for c in cells if c.folder in row["cells"]]
        ax.scatter(
            [x + 0.15] * len(seeds),
            [c.manual if row["method"] == "manual" else c.test for c in seeds],
            s=10,
            color="gray",
        )
        labels.append(f"{TASKS.get(row['task'], row['task'])}\n{row['method']}")
    ax.set_xticks(range(len(table)), labels, fontsize=7)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)  # an interval of few seeds can pass the bounds: shown clipped
    ax.set_title("Held-out test accuracy: mean, 95% interval across seeds, each seed")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def write(sweeps: list[Path], out: Path) -> str:
    """Write PUBLIC.md, public.json and public.png into ``out`` from the sweeps' folders;
    return the markdown."""
    cells: list[Cell] = []
    total = 0
    config: dict[str, Any] = {}
    for sweep in sweeps:
        found, size, first = read_cells(sweep)
        cells += found
        total += size
        config = config or first
    table = rows(cells)
    text = markdown(header(sweeps, cells, total, config), table, cells)
    out.mkdir(parents=True, exist_ok=True)
    (out / "PUBLIC.md").write_text(text, encoding="utf-8")
    doc = {"rows": table, "cells": [asdict(c) for c in cells]}
    (out / "public.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if table:
        figure(table, cells, out / "public.png")
    return text
