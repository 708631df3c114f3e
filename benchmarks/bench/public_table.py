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
manual prompts, so the first finished cell of that seed gives it); then each evolved method;
then, for few-shot cells, their own manual row (the manual prompts with exemplars) and method.
Across seeds: mean, sample std (ddof=1) and the 95% Student-t interval of the mean, as the
sweep's aggregate.csv computes them; per cell, the paired test (McNemar, exact) of the best
evolved prompt against the manual one on the same test rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    kept_manual: bool  # the best prompt by dev is the best manual prompt: evolution found none
    shots: int  # exemplars a prompt may carry (0: instructions only, as the manual prompts)
    calls: int
    tokens: int
    cost: float
    wall_s: float


def method_of(config: dict[str, Any]) -> str:
    """GA, DE, or either with few-shot examples (a ``shots`` setting above 0)."""
    name = str(config["algorithm"]).upper()
    shots = int(config.get("shots", 0) or 0)
    return f"{name} + {shots}-shot" if shots else name


def read_cells(sweep_dir: Path) -> tuple[list[Cell], dict[str, Any]]:
    """The sweep's finished cells with a test verdict, and the config of its first cell
    (model and sizes)."""
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
                kept_manual=any(
                    r.role == "best" and r.prompt == section.baseline for r in section.results
                ),
                shots=int(config.get("shots", 0) or 0),
                calls=figures.calls,
                tokens=figures.tokens,
                cost=figures.cost,
                wall_s=figures.wall_s,
            )
        )
    return cells, first


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
        for shots in sorted({c.shots for c in mine}):
            out += _task_rows(task, [c for c in mine if c.shots == shots], shots)
    return out


def _task_rows(task: str, mine: list[Cell], shots: int) -> list[dict[str, Any]]:
    """A manual row, then a row per method, for the cells of one task and one ``shots``: a
    few-shot cell's manual prompts carry the exemplars generation 0 gave them, so they are a
    manual row of their own, the baseline of that cell's gain."""
    by_seed: dict[int, Cell] = {}
    for cell in mine:
        by_seed.setdefault(cell.seed, cell)
    manual = [by_seed[s] for s in sorted(by_seed)]
    out: list[dict[str, Any]] = [
        {
            "task": task,
            "method": f"manual + {shots}-shot" if shots else "manual",
            "test": _spread([c.manual for c in manual]),
            "cells": [c.folder for c in manual],
        }
    ]
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
                "kept_manual": sum(c.kept_manual for c in chosen),
                "calls": sum(c.calls for c in chosen),
                "tokens": sum(c.tokens for c in chosen),
                "cost_usd": sum(c.cost for c in chosen),
                "wall_s": sum(c.wall_s for c in chosen),
                "cells": [c.folder for c in chosen],
            }
        )
    return out
