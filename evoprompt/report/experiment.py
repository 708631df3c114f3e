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
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evoprompt.checkpoint.atomic import CorruptFile
from evoprompt.checkpoint.journal import JOURNAL_NAME, journal_stats, open_readonly
from evoprompt.checkpoint.lock import LOCK_NAME
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.store import (
    CHECKPOINTS,
    LATEST,
    STATE,
    CheckpointStore,
    decode_state,
)
from evoprompt.core.experiment import CONFIG_NAME
from evoprompt.core.state import ExperimentState

SUMMARY, POPULATION, GENERATIONS_CSV = "summary.json", "population.jsonl", "generations.csv"


def is_experiment(folder: Path) -> bool:
    """A folder some run created: it holds a config, a summary or checkpoints."""
    names = (CONFIG_NAME, SUMMARY, CHECKPOINTS)
    return folder.is_dir() and any((folder / name).exists() for name in names)


def lock_holder(exp_dir: Path) -> str | None:
    """The pid written in ``.lock`` when a live process holds it, else None.

    Uses its own descriptor and LOCK_SH|LOCK_NB, released immediately: a run's LOCK_EX probe
    can only collide with this for the microseconds between the two calls.
    """
    try:
        fd = os.open(exp_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
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
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        notes.append(f"{path.name} is unreadable ({exc.__class__.__name__})")
        return None
    if not isinstance(doc, dict):
        notes.append(f"{path.name} is not a JSON object")
        return None
    return doc


def _in_progress(stage: str) -> bool:
    return stage.startswith("generation_")


def _stop_status(stage: str) -> str:
    """Mirror of the engine's mapping from stop stage to summary status."""
    return stage if stage in ("finished", "interrupted") else "error"


@dataclass
class Snapshot:
    """What ``list`` needs: cheap to load (no state.pkl, no journal)."""

    exp_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    cursor: dict[str, Any] | None = None
    cursor_source: str | None = None
    holder: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.exp_dir.name

    @property
    def stage(self) -> str | None:
        return ((self.cursor or {}).get("metadata") or {}).get("stage")

    @property
    def status(self) -> str:
        if self.holder is not None:
            return "running"
        stage = self.stage
        if self.cursor_source == LATEST and stage:
            return "crashed" if _in_progress(stage) else _stop_status(stage)
        saved = (self.summary or {}).get("status")
        if saved and saved != "running":
            return str(saved)
        if stage and not _in_progress(stage):
            return _stop_status(stage)
        return "crashed"

    @property
    def completed_generation(self) -> int:
        """Last completed generation (0 = the initial population), -1 when none."""
        meta = (self.cursor or {}).get("metadata") or {}
        if "completed_generation" in meta:
            return int(meta["completed_generation"])
        generations = (self.summary or {}).get("generations") or []
        return int(generations[-1]["generation"]) if generations else -1

    @property
    def best_fitness(self) -> float | None:
        value = (self.cursor or {}).get("best_fitness")
        return value if value is not None else (self.summary or {}).get("best_fitness")

    @property
    def updated(self) -> float | None:
        """When the newest checkpoint was taken, from its own timestamp (never file times)."""
        return (self.cursor or {}).get("timestamp")


def snapshot(exp_dir: Path) -> Snapshot:
    snap = Snapshot(exp_dir, holder=lock_holder(exp_dir))
    config = _read_json(exp_dir / CONFIG_NAME, snap.notes)
    if config is None:
        snap.notes.append("config.json is missing or unreadable: the experiment cannot be resumed")
    snap.config = config or {}
    snap.summary = _read_json(exp_dir / SUMMARY, snap.notes)
    folder = exp_dir / CHECKPOINTS
    snap.cursor, snap.cursor_source, passed_over = CheckpointStore(exp_dir).read_cursor()
    snap.notes.extend(passed_over)
    if snap.cursor_source not in (None, LATEST):
        snap.notes.append(f"cursor taken from {snap.cursor_source}")
    if snap.cursor is None and folder.is_dir():
        snap.notes.append("no usable latest.json, backup.json or history file")
    return snap


@dataclass
class Details:
    """What ``status`` and ``report`` add: generations, prompts, the best prompt."""

    generations: list[dict[str, Any]] = field(default_factory=list)
    scored: list[dict[str, Any]] = field(default_factory=list)
    population: list[dict[str, Any]] = field(default_factory=list)
    best_prompt: str | None = None
    best_fitness: float | None = None
    analysis: dict[str, Any] = field(default_factory=dict)  # the best prompt's, by the metric
    source: str = "summary.json"


def _read_jsonl(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        notes.append(f"{path.name} is unreadable ({exc.__class__.__name__})")
        return []
    rows = []
    for line in filter(str.strip, lines):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        usable = isinstance(row, dict) and isinstance(row.get("text"), str)
        if usable and isinstance(row.get("fitness"), (int, float)):
            rows.append(row)
            continue
        notes.append(f"{path.name} has an unusable line (skipped)")
    return rows


def _load_state(exp_dir: Path, notes: list[str]) -> ExperimentState | None:
    path = exp_dir / CHECKPOINTS / STATE
    if not path.exists():
        return None
    try:
        _, state = decode_state(path)
    except (CorruptFile, UnsafePickle) as exc:
        notes.append(f"state.pkl is unusable ({getattr(exc, 'why', exc)})")
        return None
    return state if isinstance(state, ExperimentState) else None


def _row(ind: Any) -> dict[str, Any]:
    return {
        "text": ind.text,
        "fitness": ind.fitness,
        "generation": ind.generation,
        "parents": list(ind.parents),
        "operator": ind.operator,
        "analysis": dict(ind.analysis),
    }


def details(snap: Snapshot) -> Details:
    """The experiment's figures from the best source available, noting what was missing."""
    found = Details(scored=_read_jsonl(snap.exp_dir / POPULATION, snap.notes))
    summary = snap.summary
    if summary is not None:
        found.generations = list(summary.get("generations") or [])
        found.population = list(summary.get("population") or [])
        found.best_prompt = summary.get("best_prompt")
        found.best_fitness = summary.get("best_fitness")
        found.analysis = dict(summary.get("best_analysis") or {})
    elif (state := _load_state(snap.exp_dir, snap.notes)) is not None:
        found.source = "state.pkl"
        snap.notes.append("summary.json is missing: figures come from state.pkl")
        found.generations = list(state.generations)
        found.population = [_row(ind) for ind in state.population]
        found.scored = found.scored or [_row(ind) for ind in state.scored.values()]
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
        csv = snap.exp_dir / GENERATIONS_CSV
        if csv.exists():
            with contextlib.suppress(ValueError, OSError, pd.errors.EmptyDataError):
                found.generations = pd.read_csv(csv).to_dict("records")
        found.population = found.scored
        found.best_fitness = snap.best_fitness
    if found.best_prompt is None and found.scored:
        top = max(found.scored, key=lambda row: row["fitness"])
        found.best_prompt, found.best_fitness = top["text"], top["fitness"]
        found.analysis = dict(top.get("analysis") or {})
    if not found.analysis and found.best_prompt is not None:
        row = next((r for r in found.scored if r["text"] == found.best_prompt), None)
        found.analysis = dict((row or {}).get("analysis") or {})
    found.population = sorted(found.population, key=lambda row: -row["fitness"])
    return found


def api_stats(snap: Snapshot) -> tuple[dict[str, Any] | None, str]:
    """API statistics from the journal (exact, also mid-run), else summary.json's copy."""
    path = snap.exp_dir / JOURNAL_NAME
    if path.exists():
        try:
            with contextlib.closing(open_readonly(path)) as db:
                return journal_stats(db), JOURNAL_NAME
        except sqlite3.Error as exc:
            snap.notes.append(f"{JOURNAL_NAME} is unreadable ({exc})")
    stats = (snap.summary or {}).get("api_stats")
    return (stats, SUMMARY) if isinstance(stats, dict) else (None, "none")
