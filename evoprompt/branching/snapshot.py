"""What fork and rollback share: the exact state at the end of a finished generation, a
consistent copy of the journal, and the checkpoint that makes a resume go on from there.

The state at generation N is the ``state_gen<N>.pkl`` snapshot the recorder kept (see the
docs/fork-and-rollback.md for why snapshots rather than a replay from the seed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from pathlib import Path

from evoprompt.checkpoint.atomic import CorruptFile
from evoprompt.checkpoint.journal_rows import open_readonly
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import refuse_database_links, refuse_links
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.schema import INTERRUPTED
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore, Position, decode_state


class BranchError(Exception):
    """A fork or rollback refused before anything changed: one line for the user."""


def spans(generations: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    runs: list[list[int]] = []
    for gen in sorted(generations):
        if runs and gen == runs[-1][-1] + 1:
            runs[-1].append(gen)
        else:
            runs.append([gen])
    parts = [str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs]
    return ", ".join(parts) or "none"


def completed_generation(exp_dir: Path) -> int:
    """The last generation the experiment finished (-1 when none); reads JSON only."""
    cursor = CheckpointStore(exp_dir).read_cursor()[0]
    if cursor is None or cursor.completed_generation is None:
        return -1
    return cursor.completed_generation


def state_at(exp_dir: Path, generation: int) -> tuple[ExperimentState, float]:
    """The state at the end of ``generation`` and when it was saved; BranchError naming the
    generations still available when it is not kept (or not finished)."""
    layout = Layout(exp_dir)
    refuse_links(layout.snapshot(generation), action="read through")
    done = completed_generation(exp_dir)
    kept = [gen for gen, _ in layout.snapshot_files() if gen <= done]
    if generation < 0 or generation > done:
        raise BranchError(
            f"{exp_dir.name} has finished generations 0-{done}, not {generation}"
            if done >= 0
            else f"{exp_dir.name} has not finished any generation yet"
        )
    why = "was removed by the checkpoint cleanup (keep_last_n)"
    try:
        header, state = decode_state(layout.snapshot(generation))
    except CorruptFile as exc:
        why = why if exc.why == "missing" else f"is unusable ({exc.why})"
        state = None
    except UnsafePickle as exc:
        why, state = f"is refused ({exc})", None
    if not isinstance(state, ExperimentState) or state.generation != generation:
        raise BranchError(
            f"the state of generation {generation} of {exp_dir.name} {why}; generations still "
            f"available: {spans([g for g in kept if g != generation])}"
        )
    return state, float(header["created"])


def renamed(state: ExperimentState, experiment_id: str) -> ExperimentState:
    return dataclasses.replace(state, experiment_id=experiment_id)


def copy_journal(source: Path, target: Path) -> None:
    """A consistent copy of a journal, even one a live run is writing: SQLite's backup API
    reads it in one transaction (never a torn copy)."""
    if not source.exists():
        return
    refuse_database_links(target)
    src = open_readonly(source)
    try:
        with contextlib.closing(sqlite3.connect(str(target))) as dst:
            src.backup(dst)
    except sqlite3.Error as exc:
        raise BranchError(f"cannot copy {source} ({exc})") from None
    finally:
        src.close()


def resume_from(exp_dir: Path, state: ExperimentState, created: float) -> None:
    """Checkpoint ``state`` (saved at ``created``) as a stopped run that finished its
    generation: the next resume goes on with the generation after it."""
    best = state.best()
    CheckpointStore(exp_dir).reset_to(
        state,
        Position(
            generation=state.generation + 1,
            batch_idx=0,
            metadata={"stage": INTERRUPTED.text, "completed_generation": state.generation},
            experiment_id=state.experiment_id,
            num_individuals=len(state.population),
            best_fitness=best.fitness if best else None,
        ),
        created,
    )
