"""aggregate.csv: one row per grid point over everything but ``seed``, with statistics across
its seeds.

Each finished cell gives one value per figure (its best prompt's dev score, that prompt's test
score, its test gain over the best seed prompt); a row holds their mean, sample standard
deviation (ddof=1) and a 95% Student-t interval of the mean (scipy), plus the calls, tokens,
cost and wall time (every session of the cell, killed ones included) summed over its finished
cells, the calls, tokens and cost also per role (task, operator). Cells not finished yet are
left out (``n`` counts the finished ones); a figure no cell has (no test phase) is left empty.
A cell whose summary.json cannot be read is named in its row's ``unreadable`` column, never
dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.checkpoint.layout import SweepLayout
from evoprompt.checkpoint.schema.sweep import SweepRecord
from evoprompt.config.roles import ROLES
from evoprompt.sweep.figures import UNREADABLE, CellFigures, read_figures

SEED = "seed"
STAT_COLUMNS = (
    "n",
    "dev_mean",
    "dev_std",
    "test_mean",
    "test_std",
    "test_ci_low",
    "test_ci_high",
    "gain_mean",
    "gain_ci_low",
    "gain_ci_high",
    "calls",
    "tokens",
    "cost_usd",
    "wall_s",
    *(f"{role}_{figure}" for role in ROLES for figure in ("calls", "tokens", "cost_usd")),
    "unreadable",
)
CONFIDENCE = 0.95


def _std(values: Sequence[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def t_interval(values: Sequence[float]) -> tuple[float | None, float | None]:
    """95% Student-t interval of the mean; none for fewer than two values."""
    if len(values) < 2:
        return None, None
    mean = float(np.mean(values))
    sem = float(stats.sem(values))
    if sem == 0.0:
        return mean, mean
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=mean, scale=sem)
    return float(low), float(high)


def _cell_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def point_key(params: dict[str, Any]) -> str:
    """A grid point: the cell's grid values without the seed."""
    return json.dumps({k: v for k, v in params.items() if k != SEED}, sort_keys=True)


def row(
    params: dict[str, Any], cells: list[CellFigures], unreadable: Sequence[str] = ()
) -> dict[str, Any]:
    """One grid point's row from the figures of its finished cells (``unreadable``: the ids
    of its cells whose summary.json cannot be read)."""
    dev = [c.dev for c in cells if c.dev is not None]
    test = [c.test for c in cells if c.test is not None]
    gain = [c.gain for c in cells if c.gain is not None]
    test_low, test_high = t_interval(test)
    gain_low, gain_high = t_interval(gain)
    figures: dict[str, Any] = {
        "n": len(cells),
        "dev_mean": _mean(dev),
        "dev_std": _std(dev),
        "test_mean": _mean(test),
        "test_std": _std(test),
        "test_ci_low": test_low,
        "test_ci_high": test_high,
        "gain_mean": _mean(gain),
        "gain_ci_low": gain_low,
        "gain_ci_high": gain_high,
        "calls": sum(c.calls for c in cells),
        "tokens": sum(c.tokens for c in cells),
        "cost_usd": sum(c.cost for c in cells),
        "wall_s": sum(c.wall_s for c in cells),
        **_by_role(cells),
        "unreadable": " ".join(unreadable),
    }
    varied = {k: _cell_value(v) for k, v in params.items() if k != SEED}
    return {**varied, **figures}


def _by_role(cells: list[CellFigures]) -> dict[str, Any]:
    """Calls, tokens and cost per role summed over ``cells`` (empty when a cell's summary
    predates roles: a partial sum would pass for the whole)."""
    known = all(set(ROLES) <= set(c.roles) for c in cells) and bool(cells)
    return {
        f"{role}_{figure}": sum(c.roles[role][i] for c in cells) if known else None
        for role in ROLES
        for i, figure in enumerate(("calls", "tokens", "cost_usd"))
    }


def aggregate(record: SweepRecord, sweep_dir: Path) -> pd.DataFrame:
    """The table, one row per grid point in grid order (finished cells only)."""
    layout = SweepLayout(sweep_dir)
    points: dict[str, tuple[dict[str, Any], list[CellFigures], list[str]]] = {}
    for cell in record.cells:
        _, finished, unreadable = points.setdefault(point_key(cell.params), (cell.params, [], []))
        figures = read_figures(layout.cell(cell.id))
        if figures is not None and figures.status == UNREADABLE:
            unreadable.append(cell.id)
        elif figures is not None and figures.status == "finished":
            finished.append(figures)
    varied = [k for k in record.grid if k != SEED]
    rows = [row(*point) for point in points.values()]
    return pd.DataFrame(rows, columns=[*varied, *STAT_COLUMNS])


def write_aggregate(record: SweepRecord, sweep_dir: Path) -> pd.DataFrame:
    frame = aggregate(record, sweep_dir)
    atomic_write_text(SweepLayout(sweep_dir).aggregate, frame.to_csv(index=False))
    return frame
