"""Where every file of an experiment folder lives: the one place that knows names and patterns.

Spec section 4 fixes these names (users and scripts read them), so they are spelled once here
and every writer and reader (engine, store, session, inspect, verify, report) goes through
:class:`Layout`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from evoprompt.checkpoint.nofollow import inside, is_real_dir

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
ROLLED_BACK = "rolled_back"
ROLLBACK_MANIFEST = "rollback.json"
TRACKING = "tracking.json"  # the experiment's (or sweep's) run in an experiment tracker
TRACKING_LOCK = ".tracking.lock"  # held while one process logs the folder to the tracker
STAGING = ".staging"  # under the result folder: forks being built (never an experiment)

# Experiment ids name a folder and appear in printed commands: no spaces, quotes, slashes or
# shell metacharacters, and no leading '.' or '-' (hidden files, options).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
HISTORY_PATTERN = re.compile(r"^gen(\d+)_batch0\.json$")
BATCH_PATTERN = re.compile(r"^gen(\d+)_batch(\d+)\.json$")
TEST_BATCH_PATTERN = re.compile(r"^test(\d+)_batch(\d+)\.json$")
SNAPSHOT_PATTERN = re.compile(r"^state_gen(\d+)\.pkl$")


def is_safe_id(name: str) -> bool:
    """An experiment id (or config name) that is a plain folder name, safe in any command."""
    return bool(ID_PATTERN.match(name))


def history_name(generation: int) -> str:
    """The history copy of latest.json taken at the end of ``generation``."""
    return f"gen{generation}_batch0.json"


def batch_name(generation: int, batch_idx: int) -> str:
    return f"gen{generation}_batch{batch_idx}.json"


def snapshot_name(generation: int) -> str:
    """The state.pkl of the end of ``generation``, kept for fork and rollback."""
    return f"state_gen{generation}.pkl"


def test_batch_name(phase: int, batch_idx: int) -> str:
    """A batch of held-out test phase ``phase`` (its record's ``generation`` holds the phase)."""
    return f"test{phase}_batch{batch_idx}.json"


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
    def tracking(self) -> Path:
        return self.exp_dir / TRACKING

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

    def snapshot(self, generation: int) -> Path:
        return self.checkpoints / snapshot_name(generation)

    @property
    def rolled_back(self) -> Path:
        """Where a rollback moves what came after its generation (one folder per rollback)."""
        return self.checkpoints / ROLLED_BACK

    def test_batch(self, phase: int, batch_idx: int) -> Path:
        return self.batches / test_batch_name(phase, batch_idx)

    def relative(self, path: Path) -> str:
        """How a file is named to the user: relative to the experiment folder."""
        return path.relative_to(self.exp_dir).as_posix()

    def own_file(self, relative: str) -> Path | None:
        """The path of ``relative`` (a name read from a record) when it is exactly one of the
        files this layout names (results, current checkpoint, a generation's checkpoint files);
        None for anything else: another folder, ``..``, an absolute path."""
        path = inside(self.exp_dir, relative)
        if path is None:
            return None
        candidates = [self.state, self.latest, self.backup, self.summary, self.population]
        candidates.append(self.generations_csv)
        if match := HISTORY_PATTERN.match(path.name):
            candidates.append(self.history(int(match[1])))
        if match := SNAPSHOT_PATTERN.match(path.name):
            candidates.append(self.snapshot(int(match[1])))
        if match := BATCH_PATTERN.match(path.name):
            candidates.append(self.batch(int(match[1]), int(match[2])))
        if match := TEST_BATCH_PATTERN.match(path.name):
            candidates.append(self.test_batch(int(match[1]), int(match[2])))
        return path if path in candidates else None

    def history_files(self) -> list[tuple[int, Path]]:
        """(generation, path) of every history copy, newest generation first."""
        found = [
            (int(m.group(1)), p)
            for p in self.checkpoints.glob("gen*_batch0.json")
            if (m := HISTORY_PATTERN.match(p.name))
        ]
        return sorted(found, reverse=True)

    def batch_files(self, *, test: bool = False) -> list[tuple[int, int, Path]]:
        """(generation, batch index, path) of every dev batch file, in order; with ``test``,
        (test phase, batch index, path) of every test batch file."""
        pattern = TEST_BATCH_PATTERN if test else BATCH_PATTERN
        found = [
            (int(m.group(1)), int(m.group(2)), p)
            for p in self.batches.glob("test*_batch*.json" if test else "gen*_batch*.json")
            if (m := pattern.match(p.name))
        ]
        return sorted(found)

    def snapshot_files(self) -> list[tuple[int, Path]]:
        """(generation, path) of every per-generation state snapshot, oldest first."""
        found = [
            (int(m.group(1)), p)
            for p in self.checkpoints.glob("state_gen*.pkl")
            if (m := SNAPSHOT_PATTERN.match(p.name))
        ]
        return sorted(found)

    def rollbacks(self) -> list[Path]:
        """The folders earlier rollbacks moved files into, oldest first (names are times)."""
        if not is_real_dir(self.rolled_back):
            return []
        return sorted(p for p in self.rolled_back.iterdir() if is_real_dir(p) and p.name[0] != ".")

    def is_experiment(self) -> bool:
        """A folder some run (or the programmatic API) created."""
        return self.exp_dir.is_dir() and any(
            p.exists() for p in (self.config, self.summary, self.checkpoints)
        )


SWEEP = "sweep.json"
AGGREGATE = "aggregate.csv"
SWEEP_REPORT = "sweep_report.html"


@dataclass(frozen=True)
class SweepLayout:
    """The paths of one sweep folder: its own files, and one experiment folder per cell."""

    sweep_dir: Path

    @property
    def sweep(self) -> Path:
        return self.sweep_dir / SWEEP

    @property
    def aggregate(self) -> Path:
        return self.sweep_dir / AGGREGATE

    @property
    def report(self) -> Path:
        return self.sweep_dir / SWEEP_REPORT

    @property
    def tracking(self) -> Path:
        return self.sweep_dir / TRACKING

    def cell(self, cell_id: str) -> Path:
        return self.sweep_dir / cell_id

    def is_sweep(self) -> bool:
        return self.sweep.is_file()
