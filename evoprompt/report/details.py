"""What ``status`` and ``report`` add to an experiment's snapshot: its generations, prompts
and best prompt from the best source available, and its API statistics.

Like :mod:`evoprompt.report.experiment`, it only reads: summary.json when it exists, else
state.pkl (the allow-list unpickler), else population.jsonl and generations.csv, noting what
was missing; the statistics come from the journal (read-only), else from summary.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evoprompt.checkpoint.atomic import CorruptFile
from evoprompt.checkpoint.journal_rows import journal_stats, open_readonly
from evoprompt.checkpoint.layout import JOURNAL, SUMMARY, Layout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.schema import GenerationRow, PopulationRow, SchemaError, TestReport
from evoprompt.checkpoint.spend import experiment_spend
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import decode_state
from evoprompt.report.experiment import Snapshot


@dataclass
class Details:
    """What ``status`` and ``report`` add: generations, prompts, the best prompt."""

    generations: list[GenerationRow] = field(default_factory=list)
    scored: list[PopulationRow] = field(default_factory=list)
    population: list[PopulationRow] = field(default_factory=list)
    best_prompt: str | None = None
    best_fitness: float | None = None
    analysis: dict[str, Any] = field(default_factory=dict)  # the best prompt's, by the metric
    test: TestReport | None = None  # the newest held-out test
    source: str = SUMMARY


def _read_jsonl(path: Path, notes: list[str]) -> list[PopulationRow]:
    try:
        lines = read_text(path).splitlines()
    except FileNotFoundError:
        return []
    except PathRefused as exc:
        notes.append(f"{path.name} is not read: {exc}")
        return []
    except (OSError, UnicodeDecodeError) as exc:
        notes.append(f"{path.name} is unreadable ({exc.__class__.__name__})")
        return []
    rows = []
    for line in filter(str.strip, lines):
        try:
            rows.append(PopulationRow.from_json(json.loads(line)))
        except (ValueError, SchemaError):
            notes.append(f"{path.name} has an unusable line (skipped)")
    return rows


def _load_state(layout: Layout, notes: list[str]) -> ExperimentState | None:
    if not layout.state.exists():
        return None
    try:
        _, state = decode_state(layout.state)
    except (CorruptFile, UnsafePickle) as exc:
        notes.append(f"state.pkl is unusable ({getattr(exc, 'why', exc)})")
        return None
    return state if isinstance(state, ExperimentState) else None


def _read_generations_csv(path: Path) -> list[GenerationRow]:
    if not path.exists():
        return []
    with contextlib.suppress(
        ValueError, OSError, pd.errors.EmptyDataError, SchemaError, PathRefused
    ):
        frame = pd.read_csv(io.StringIO(read_text(path)))
        return [GenerationRow.from_json(r) for r in frame.to_dict("records")]
    return []


def details(snap: Snapshot) -> Details:
    """The experiment's figures from the best source available, noting what was missing."""
    layout = Layout(snap.exp_dir)
    found = Details(scored=_read_jsonl(layout.population, snap.notes))
    summary = snap.summary
    if summary is not None:
        found.generations = list(summary.generations)
        found.population = list(summary.population)
        found.best_prompt = summary.best_prompt
        found.best_fitness = summary.best_fitness
        found.analysis = dict(summary.best_analysis)
        found.test = summary.test
    elif (state := _load_state(layout, snap.notes)) is not None:
        found.source = "state.pkl"
        snap.notes.append("summary.json is missing: figures come from state.pkl")
        found.generations = list(state.generations)
        found.population = [ind.row() for ind in state.population]
        found.scored = found.scored or [ind.row() for ind in state.scored.values()]
        found.test = state.tests[-1] if state.tests else None
        best = state.best()
        if best is not None:
            found.best_prompt, found.best_fitness = best.text, best.fitness
            found.analysis = dict(best.analysis)
    else:
        found.source = "partial files (no summary.json, no usable state.pkl)"
        snap.notes.append(
            "summary.json and state.pkl are missing: no generation was completed and saved"
            if snap.completed_generation < 0
            else "summary.json and a usable state.pkl are missing: partial figures only"
        )
        found.generations = _read_generations_csv(layout.generations_csv)
        found.population = found.scored
        found.best_fitness = snap.best_fitness
    if found.best_prompt is None and found.scored:
        top = max(found.scored, key=lambda row: row.fitness)
        found.best_prompt, found.best_fitness = top.text, top.fitness
        found.analysis = dict(top.analysis)
    if not found.analysis and found.best_prompt is not None:
        match = next((r for r in found.scored if r.text == found.best_prompt), None)
        found.analysis = dict(match.analysis) if match else {}
    found.population = sorted(found.population, key=lambda row: -row.fitness)
    return found


def api_stats(snap: Snapshot) -> tuple[dict[str, Any] | None, str]:
    """API statistics from the journal (exact, also mid-run), else summary.json's copy."""
    path = Layout(snap.exp_dir).journal
    if path.exists():
        try:
            with contextlib.closing(open_readonly(path)) as db:
                stats = experiment_spend(snap.exp_dir, db, journal_stats(db))
            # What only the running process knows (the concurrency the limiter learned), as
            # of the last save.
            if snap.summary is not None and "concurrency" in snap.summary.api_stats:
                stats["concurrency"] = snap.summary.api_stats["concurrency"]
            return stats, JOURNAL
        except (sqlite3.Error, PathRefused) as exc:
            snap.notes.append(f"{JOURNAL} is unreadable ({exc})")
    if snap.summary is not None and snap.summary.api_stats:
        return snap.summary.api_stats, SUMMARY
    return None, "none"
