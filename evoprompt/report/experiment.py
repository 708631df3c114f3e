"""One experiment folder, read without disturbing it: status, cursor, best prompt, lineage.

Status of an experiment (what ``list`` and ``status`` print):

- ``running``: a live process holds the experiment's ``.lock``. Probed with a non-blocking
  shared ``flock`` on a separate descriptor that is released at once; the lock is never kept.
- ``finished`` / ``interrupted`` / ``error``: the stop the run recorded in latest.json (or,
  when latest.json is unusable, in summary.json).
- ``crashed``: saved as in progress but no process holds the lock (kill -9, OOM kill, power
  cut). Resumable exactly like an interrupted experiment.

A snapshot reads summary.json and the cursor (latest.json, else backup.json or a history
file), with a note saying what was missing; :mod:`evoprompt.report.details` reads the rest
(generations, prompts, API statistics) for ``status`` and ``report``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.layout import LATEST, SUMMARY, Layout
from evoprompt.checkpoint.nofollow import READ, PathRefused, open_nofollow, read_text
from evoprompt.checkpoint.schema import (
    Descriptor,
    EndpointRecord,
    SchemaError,
    Stage,
    Summary,
)
from evoprompt.checkpoint.store import CheckpointStore
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


def loglik_mode(exp_dir: Path) -> str | None:
    """How log-likelihoods are asked of the endpoint (endpoint.json), if it was probed."""
    try:
        raw = json.loads(read_text(Layout(exp_dir).endpoint))
        return EndpointRecord.from_json(raw).loglik
    except (OSError, ValueError, SchemaError, PathRefused):
        return None
