"""Fork: a new experiment that starts from another one's state at the end of generation N.

The fork is built in ``<result_dir>/.staging/`` (never listed, never resumed) and renamed into
place in one step, so a kill -9 at any moment leaves either no fork or a complete one; the
source is only read (its snapshot, its journal through SQLite's backup API). The fork carries
a copy of the source's journal, so every request the source had answered is answered again
at no cost, whatever settings the fork changes for the generations after N.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.branching.snapshot import (
    BranchError,
    copy_journal,
    renamed,
    resume_from,
    state_at,
)
from evoprompt.checkpoint.atomic import fsync_dir
from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.layout import STAGING, Layout, is_safe_id
from evoprompt.checkpoint.nofollow import (
    PathRefused,
    confine_to,
    is_real_dir,
    link_or_copy,
    make_dirs,
    refuse_links,
    remove_tree,
    rename,
)
from evoprompt.checkpoint.schema import INTERRUPTED, Lineage
from evoprompt.config import Config
from evoprompt.core.result import write_results
from evoprompt.runner.stored import write_config


@dataclass(frozen=True)
class ForkPlan:
    source: Path
    generation: int
    target: Path
    config: Config
    lineage: Lineage


def changed_keys(source: dict[str, Any], fork: Config) -> dict[str, Any]:
    """The settings the fork changes, with their new values."""
    mine = fork.to_dict()
    return {k: v for k, v in mine.items() if source.get(k) != v}


def default_id(result_dir: Path, source_id: str, generation: int) -> str:
    base = f"{source_id}_fork_g{generation}"
    exp_id, n = base, 2
    while os.path.lexists(result_dir / exp_id):
        exp_id, n = f"{base}_{n}", n + 1
    return exp_id


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_staging(staging: Path) -> None:
    """Remove what killed forks left half-built: only folders named as :func:`fork` names
    them (``<id>.<pid>``) whose pid is gone; nothing else, and never through a link."""
    if not is_real_dir(staging):
        return
    for leftover in staging.iterdir():
        exp_id, _, pid = leftover.name.rpartition(".")
        ours = is_safe_id(exp_id) and pid.isdigit() and is_real_dir(leftover)
        if ours and not _pid_alive(int(pid)):
            remove_tree(leftover)


def _carry_history(source: Path, build: Path, generation: int) -> None:
    """The source's snapshots, history and batch files of generations before N, so the fork
    can itself be rolled back or forked at any of them (links: they are never rewritten)."""
    src, dst = Layout(source), Layout(build)
    for gen, path in src.snapshot_files():
        if gen < generation:
            link_or_copy(path, dst.snapshot(gen))
    for gen, path in src.history_files():
        if gen < generation:
            link_or_copy(path, dst.history(gen))
    for gen, b, path in src.batch_files():
        if gen <= generation:
            link_or_copy(path, dst.batch(gen, b))


def fork(plan: ForkPlan) -> None:
    """Build the fork and rename it into place; BranchError when it cannot be done."""
    result_dir = confine_to(plan.target.parent)
    state, created = state_at(plan.source, plan.generation)
    refuse_links(plan.target)  # a link (dangling or not) in place of the new folder
    if plan.target.exists():
        raise BranchError(f"experiment {plan.target.name} already exists; pick another id")
    staging = result_dir / STAGING
    make_dirs(staging)
    _sweep_staging(staging)
    build = staging / f"{plan.target.name}.{os.getpid()}"
    if is_real_dir(build):
        remove_tree(build)  # left by a killed fork whose pid this process now has
    make_dirs(build)
    try:
        layout = Layout(build)
        copy_journal(Layout(plan.source).journal, layout.journal)
        with contextlib.closing(Journal(layout.journal)) as copied:
            lineage = dataclasses.replace(plan.lineage, inherited=copied.contents())
        doc = {**plan.config.to_dict(), **lineage.to_json()}
        write_config(build, doc)
        _carry_history(plan.source, build, plan.generation)
        mine = renamed(state, plan.target.name)
        resume_from(build, mine, created)
        with contextlib.closing(Journal(layout.journal)) as journal:
            write_results(build, mine, INTERRUPTED.status, journal.stats())
        fsync_dir(build)
        if plan.target.exists():
            raise BranchError(f"experiment {plan.target.name} already exists; pick another id")
        rename(build, plan.target)
    except BaseException:
        with contextlib.suppress(PathRefused):
            remove_tree(build)
        raise
    fsync_dir(result_dir)
