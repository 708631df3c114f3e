"""One experiment folder, read without disturbing it: status, cursor, best prompt, lineage.

Status of an experiment (what ``list`` and ``status`` print):

- ``running``: a live process holds the experiment's ``.lock``. Probed with a non-blocking
  shared ``flock`` on a separate descriptor that is released at once; the lock is never kept.
- ``finished`` / ``interrupted`` / ``error``: the stop the run recorded in latest.json (or,
  when latest.json is unusable, in summary.json).
- ``crashed``: saved as in progress but no process holds the lock (kill -9, OOM kill, power
  cut). Resumable exactly like an interrupted experiment.

Figures come from summary.json when it exists; a crashed run may lack it, and then they come
from state.pkl (loaded with the allow-list unpickler), population.jsonl, generations.csv and
latest.json, in that order, with a note saying what was missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evoprompt.checkpoint.atomic import CorruptFile
from evoprompt.checkpoint.journal_rows import journal_stats, open_readonly
from evoprompt.checkpoint.layout import JOURNAL, LATEST, SUMMARY, Layout
from evoprompt.checkpoint.nofollow import READ, PathRefused, open_nofollow, read_text
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.schema import (
    Descriptor,
    EndpointRecord,
    GenerationRow,
    PopulationRow,
    SchemaError,
    Stage,
    Summary,
    TestReport,
)
from evoprompt.checkpoint.spend import experiment_spend
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore, decode_state
from evoprompt.runner.stored import StoredError, read_doc


def is_experiment(folder: Path) -> bool:
    """A folder some run created: it holds a config, a summary or checkpoints."""
    return Layout(folder).is_experiment()


def lock_holder(exp_dir: Path) -> str | None:
    """The pid written in ``.lock`` when a live process holds it, else None.

    Uses its own descriptor and LOCK_SH|LOCK_NB, released immediately: a run's LOCK_EX probe
    can only collide with this for the microseconds between the two calls.
    """
    try:
        fd = open_nofollow(Layout(exp_dir).lock, os.O_RDONLY, action=READ)
    except (OSError, PathRefused):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def when(timestamp: float | None) -> str:
    return (
        "-" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    )


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    try:
        doc = json.loads(read_text(path))
    except FileNotFoundError:
        return None
    except PathRefused as exc:
        notes.append(f"{path.name} is not read: {exc}")
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        notes.append(f"{path.name} is unreadable ({exc.__class__.__name__})")
        return None
    if not isinstance(doc, dict):
        notes.append(f"{path.name} is not a JSON object")
        return None
    return doc


@dataclass
class Snapshot:
    """What ``list`` needs: cheap to load (no state.pkl, no journal)."""

    exp_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    summary: Summary | None = None
    cursor: Descriptor | None = None
    cursor_source: str | None = None
    holder: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.exp_dir.name

    @property
    def stage(self) -> Stage | None:
        return self.cursor.stage if self.cursor else None

    @property
    def status(self) -> str:
        if self.holder is not None:
            return "running"
        stage = self.stage
        if self.cursor_source == LATEST and stage is not None and stage.text:
            return "crashed" if stage.in_progress else stage.status
        saved = self.summary.status if self.summary else None
        if saved and saved != "running":
            return saved
        if stage is not None and stage.text and not stage.in_progress:
            return stage.status
        return "crashed"

    @property
    def completed_generation(self) -> int:
        """Last completed generation (0 = the initial population), -1 when none."""
        if self.cursor is not None and self.cursor.completed_generation is not None:
            return self.cursor.completed_generation
        generations = self.summary.generations if self.summary else []
        return generations[-1].generation if generations else -1

    @property
    def best_fitness(self) -> float | None:
        value = self.cursor.best_fitness if self.cursor else None
        if value is None and self.summary is not None:
            value = self.summary.best_fitness
        return value

    @property
    def updated(self) -> float | None:
        """When the newest checkpoint was taken, from its own timestamp (never file times)."""
        return self.cursor.timestamp if self.cursor else None


def _read_summary(layout: Layout, notes: list[str]) -> Summary | None:
    doc = _read_json(layout.summary, notes)
    if doc is None:
        return None
    try:
        return Summary.from_json(doc)
    except SchemaError as exc:
        notes.append(f"{SUMMARY} is unusable ({exc})")
        return None


def snapshot(exp_dir: Path) -> Snapshot:
    layout = Layout(exp_dir)
    snap = Snapshot(exp_dir, holder=lock_holder(exp_dir))
    try:
        snap.config = read_doc(exp_dir)
    except StoredError as exc:
        if layout.config.exists():
            snap.notes.append(f"{exc}")
        snap.notes.append("config.json is missing or unreadable: the experiment cannot be resumed")
    snap.summary = _read_summary(layout, snap.notes)
    snap.cursor, snap.cursor_source, passed_over = CheckpointStore(exp_dir).read_cursor()
    snap.notes.extend(passed_over)
    if snap.cursor_source not in (None, LATEST):
        snap.notes.append(f"cursor taken from {snap.cursor_source}")
    if snap.cursor is None and layout.checkpoints.is_dir():
        snap.notes.append("no usable latest.json, backup.json or history file")
    return snap


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


def loglik_mode(exp_dir: Path) -> str | None:
    """How log-likelihoods are asked of the endpoint (endpoint.json), if it was probed."""
    try:
        raw = json.loads(read_text(Layout(exp_dir).endpoint))
        return EndpointRecord.from_json(raw).loglik
    except (OSError, ValueError, SchemaError, PathRefused):
        return None
