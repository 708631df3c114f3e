"""The bill of work on an existing experiment, for ``--dry-run``: a fork's generations after N
and a held-out test phase, with what the experiment's journal already answers free.

Everything here only reads: the snapshots (as fork does) and the journal through a read-only
SQLite connection that leaves no file behind. A fork whose settings do not change the
requests replays the source's generations after N from the journal, so only those the source
never ran are billed; otherwise every generation after N is billed as a fresh run's would be
(the journal still answers any request the fork happens to repeat). Answers are priced at
the experiment's own mean lengths once its journal holds enough (:func:`journaled`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from evoprompt.billing.bill import estimate, heldout_bill
from evoprompt.billing.phases import Bill, bill_after
from evoprompt.billing.replies import journaled
from evoprompt.branching.snapshot import BranchError, completed_generation, state_at
from evoprompt.checkpoint.journal_rows import open_readonly
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import GUARDED, Config
from evoprompt.core.finalists import finalists, given
from evoprompt.runner.task import Task

# Settings whose change changes the requests of the generations after N (pruning asks fewer
# rows of some children); any other change replays the source's requests exactly.
SHAPES_REQUESTS = frozenset({*GUARDED, "prune"})


def journal_answers(exp_dir: Path) -> Callable[[str], bool]:
    """Whether the experiment's journal holds an answer for a request key (read-only)."""
    path = Layout(exp_dir).journal
    keys: set[str] = set()
    if path.is_file():
        with contextlib.suppress(sqlite3.Error), contextlib.closing(open_readonly(path)) as db:
            keys = {row[0] for row in db.execute("SELECT key FROM responses")}
    return keys.__contains__


def fork_bill(
    source: Path, generation: int, config: Config, task: Task, changed: Iterable[str]
) -> tuple[Bill, list[str]]:
    """(the bill of a fork of ``source`` at ``generation`` with ``config``, notes on what is
    free); BranchError for a generation that cannot be forked, as :func:`fork` raises."""
    state_at(source, generation)  # the same refusal as the fork itself
    shaping = sorted(set(changed) & SHAPES_REQUESTS)
    done = completed_generation(source)
    through = generation if shaping else max(generation, done)
    free = journal_answers(source)
    notes = []
    last = min(through, config.max_generations)
    if last > generation:
        span = f"{generation + 1}-{last}" if last > generation + 1 else str(last)
        notes.append(
            f"generations {span} replay the source's journal at no cost (no setting that "
            "shapes the requests changed)"
        )
    elif shaping:
        notes.append(
            f"{', '.join(shaping)} changed: every generation after {generation} is billed as "
            "new (the source's journal still answers any request the fork repeats)"
        )
    replies = journaled(source, config, task)
    bill = bill_after(estimate(config, task, replies, free), through)
    if through >= config.max_generations and task.test is not None:
        # the fork's last generation is the source's: its finalists are known
        with contextlib.suppress(BranchError):
            state, _ = state_at(source, config.max_generations)
            chosen = finalists(
                state, config.seed_prompts, config.test_top_k, config.test_seeds == "all"
            )
            bill = heldout_bill(config, task, chosen.texts, free, replies)
            notes.append("the test phase is billed for the requests the journal does not hold")
    return bill, notes


def retest_bill(exp_dir: Path, config: Config, task: Task, prompts: Sequence[str]) -> Bill:
    """The bill of ``main.py test``: its finalists (or ``prompts``) on the test rows, less
    what the journal answers. BranchError when the experiment has not finished (the test
    itself refuses it: its run ends with a test phase)."""
    if not _finished(exp_dir):
        raise BranchError(
            f"experiment {exp_dir.name} has not finished; resume it first: its run ends with a "
            "test phase"
        )
    state, _ = state_at(exp_dir, completed_generation(exp_dir))
    seeds = config.seed_prompts
    every = config.test_seeds == "all"
    chosen = (
        given(state, prompts, seeds)
        if prompts
        else finalists(state, seeds, config.test_top_k, every)
    )
    free = journal_answers(exp_dir)
    return heldout_bill(config, task, chosen.texts, free, journaled(exp_dir, config, task))


def resume_bill(exp_dir: Path, config: Config, task: Task) -> tuple[Bill, str]:
    """(what resuming an experiment with ``config`` still asks, a note): nothing once it has
    finished all its generations, else at most the generations after the last completed one
    and the test phase (the journal answers what a generation under way already asked)."""
    done = completed_generation(exp_dir)
    if _finished(exp_dir) and done >= config.max_generations:
        return Bill([], 0, config.prune), "finished"
    replies = journaled(exp_dir, config, task)
    bill = estimate(config, task, replies, journal_answers(exp_dir))
    return bill_after(bill, done), f"resumes after generation {done}: at most"


def _finished(exp_dir: Path) -> bool:
    """Whether the experiment's last save recorded a finished run (reads JSON only)."""
    cursor = CheckpointStore(exp_dir).read_cursor()[0]
    return cursor is not None and cursor.stage.text == "finished"
