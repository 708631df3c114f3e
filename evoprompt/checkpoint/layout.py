"""Where every file of an experiment folder lives: the one place that knows names and patterns.

Spec section 4 fixes these names (users and scripts read them), so they are spelled once here
and every writer and reader (engine, store, session, inspect, verify, report) goes through
:class:`Layout`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.json"
JOURNAL = "journal.sqlite"
LOCK = ".lock"
RECOVERY_LOG = "recovery.log"
SUMMARY = "summary.json"
ENDPOINT = "endpoint.json"
GENERATIONS_CSV = "generations.csv"
POPULATION = "population.jsonl"
CHECKPOINTS = "checkpoints"
LATEST = "latest.json"
BACKUP = "backup.json"
STATE = "state.pkl"
BATCHES = "batches"

HISTORY_PATTERN = re.compile(r"^gen(\d+)_batch0\.json$")
BATCH_PATTERN = re.compile(r"^gen(\d+)_batch(\d+)\.json$")


def history_name(generation: int) -> str:
    """The history copy of latest.json taken at the end of ``generation``."""
    return f"gen{generation}_batch0.json"


def batch_name(generation: int, batch_idx: int) -> str:
    return f"gen{generation}_batch{batch_idx}.json"


def history_generation(path: Path) -> int | None:
    """The generation a history file's name claims, or None for another file."""
    match = HISTORY_PATTERN.match(path.name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Layout:
    """The paths of one experiment folder (nothing is created by building one)."""

    exp_dir: Path

    @property
    def config(self) -> Path:
        return self.exp_dir / CONFIG

    @property
    def journal(self) -> Path:
        return self.exp_dir / JOURNAL

    @property
    def lock(self) -> Path:
        return self.exp_dir / LOCK

    @property
    def recovery_log(self) -> Path:
        return self.exp_dir / RECOVERY_LOG

    @property
    def summary(self) -> Path:
        return self.exp_dir / SUMMARY

    @property
    def endpoint(self) -> Path:
        return self.exp_dir / ENDPOINT

    @property
    def generations_csv(self) -> Path:
        return self.exp_dir / GENERATIONS_CSV

    @property
    def population(self) -> Path:
        return self.exp_dir / POPULATION

    @property
    def checkpoints(self) -> Path:
        return self.exp_dir / CHECKPOINTS

    @property
    def latest(self) -> Path:
        return self.checkpoints / LATEST

    @property
    def backup(self) -> Path:
        return self.checkpoints / BACKUP

    @property
    def state(self) -> Path:
        return self.checkpoints / STATE

    @property
    def batches(self) -> Path:
        return self.checkpoints / BATCHES

    def history(self, generation: int) -> Path:
        return self.checkpoints / history_name(generation)

    def batch(self, generation: int, batch_idx: int) -> Path:
        return self.batches / batch_name(generation, batch_idx)

    def relative(self, path: Path) -> str:
        """How a file is named to the user: relative to the experiment folder."""
        return path.relative_to(self.exp_dir).as_posix()

    def history_files(self) -> list[tuple[int, Path]]:
        """(generation, path) of every history copy, newest generation first."""
        found = [
            (int(m.group(1)), p)
            for p in self.checkpoints.glob("gen*_batch0.json")
            if (m := HISTORY_PATTERN.match(p.name))
        ]
        return sorted(found, reverse=True)

    def batch_files(self) -> list[tuple[int, int, Path]]:
        """(generation, batch index, path) of every batch file, in order."""
        found = [
            (int(m.group(1)), int(m.group(2)), p)
            for p in self.batches.glob("gen*_batch*.json")
            if (m := BATCH_PATTERN.match(p.name))
        ]
        return sorted(found)

    def is_experiment(self) -> bool:
        """A folder some run (or the programmatic API) created."""
        return self.exp_dir.is_dir() and any(
            p.exists() for p in (self.config, self.summary, self.checkpoints)
        )
