"""A sweep's self-contained HTML report (``python main.py sweep-report <sweep-id>``).

The aggregate table (recomputed from the cells' summaries, as aggregate.csv), a plot of the
test score per grid point with its 95% interval as error bars (the dev score with its standard
deviation when no cell has test figures), and every cell with its status. Same look as the
single-experiment report; read-only, safe while the sweep runs.
"""

from __future__ import annotations

import base64
import math
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from evoprompt.report.content import Table
from evoprompt.report.html import _CSS, _table
from evoprompt.report.plot import new_axes, png_bytes
from evoprompt.report.sweeps import SweepView
from evoprompt.sweep.aggregate import SEED, aggregate


def _shown(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _label(row: pd.Series, varied: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in varied) or "all cells"


def score_png(frame: pd.DataFrame, varied: list[str], title: str) -> bytes:
    """Score per grid point with error bars (900x400 px)."""
    on_test = bool(frame["test_mean"].notna().any())
    mean = frame["test_mean" if on_test else "dev_mean"].astype(float)
    if on_test:
        low = (mean - frame["test_ci_low"].astype(float)).fillna(0.0)
        high = (frame["test_ci_high"].astype(float) - mean).fillna(0.0)
    else:
        low = high = frame["dev_std"].astype(float).fillna(0.0)
    labels = [_label(row, varied) for _, row in frame.iterrows()]
    figure, axes = new_axes(width=9)
    xs = list(range(len(labels)))
    axes.errorbar(xs, mean, yerr=[low, high], fmt="o", capsize=6)
    axes.set_xlim(-0.5, len(xs) - 0.5)
    axes.set_xticks(xs, labels, rotation=20 if len(labels) > 4 else 0, ha="right")
    what = "test score, 95% interval of the mean" if on_test else "dev score ± std (no test)"
    axes.set_ylabel(what)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    return png_bytes(figure)


def _aggregate_table(frame: pd.DataFrame) -> Table:
    """aggregate.csv's rows, each interval's two ends in one column (the 14 statistics side
    by side overflowed a 1,700 px window)."""
    shown = frame.astype(object).copy()
    for name in ("test", "gain"):
        low, high = shown.pop(f"{name}_ci_low"), shown.pop(f"{name}_ci_high")
        at = list(shown.columns).index(f"{name}_std" if name == "test" else f"{name}_mean") + 1
        both = [
            f"[{_shown(a)}, {_shown(b)}]" if _shown(a) != "-" else "-" for a, b in zip(low, high)
        ]
        shown.insert(at, f"{name} 95% CI", both)
    headers = [str(c) for c in shown.columns]
    return Table(headers, [[_shown(v) for v in row] for row in shown.itertuples(index=False)])


def _cells_table(view: SweepView) -> Table:
    """Each cell's progress, dev best and held-out figures (best on test, gain over the best
    seed and its p), read from the cell's own summary."""
    rows = []
    for cell_id, snap in view.cells:
        if snap is None:
            rows.append([cell_id, "pending", "-", "-", "-", "-", "-"])
            continue
        done = snap.completed_generation
        gens = f"{done if done >= 0 else '-'}/{snap.config.get('max_generations', '?')}"
        test = snap.summary.test if snap.summary is not None else None
        best = test.results[0].test_fitness if test is not None and test.results else None
        comparison = test.comparison if test is not None else None
        gain = None if comparison is None else f"{comparison.delta:+.4f}"
        p_value = None if comparison is None else f"{comparison.p_value:.3g}"
        row = [cell_id, snap.status, gens, _shown(snap.best_fitness), _shown(best)]
        rows.append([*row, _shown(gain), _shown(p_value)])
    headers = ["cell", "status", "generation", "dev best", "test best", "gain vs seed", "p"]
    return Table(headers, rows)


def render(view: SweepView, frame: pd.DataFrame, png: bytes | None) -> str:
    record = view.record
    title = f"Sweep {record.sweep_id}"
    grid = "; ".join(f"{k} = {v}" for k, v in record.grid.items())
    pairs = [
        ("status", f"{view.status}: {view.finished}/{len(view.cells)} cells finished"),
        ("sweep file", record.file),
        ("grid", grid),
        ("resume", record.resume),
    ]
    overview = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<table>{overview}</table>",
        "<h2>Score per grid point</h2>",
    ]
    if png is None:
        parts.append("<p>No cell has finished yet: nothing to plot.</p>")
    else:
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<img id="score-plot" alt="score per grid point" src="data:image/png;base64,'
            f'{encoded}">'
        )
    wide = f'<div class="wide">{_table(_aggregate_table(frame))}</div>'
    parts += ["<h2>Aggregate over seeds</h2>", wide]
    parts += ["<h2>Cells</h2>", _table(_cells_table(view)), "</body></html>"]
    return "\n".join(parts) + "\n"


def build(view: SweepView, sweep_dir: Path) -> str:
    """The report's HTML: aggregate recomputed from the cells, plotted when any has figures."""
    frame = aggregate(view.record, sweep_dir)
    varied = [k for k in view.record.grid if k != SEED]
    plotted = frame[frame["n"] > 0]
    png = score_png(plotted, varied, view.record.sweep_id) if len(plotted) else None
    return render(view, frame, png)
