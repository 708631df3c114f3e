"""What an experiment has spent, across forks and rollbacks: every paid answer counted once.

The journal alone does not say it. A fork's journal starts as a copy of its parent's (every
answer the parent paid for is answered again at no cost), so the fork would count the
parent's spend as its own: the fork's lineage records what the copy held, and that is left
out (``inherited_*``). A rollback moves later answers out of the journal into its set-aside
copy; they were paid for, so they are counted back in (``set_aside_*``), beside the same
calls bought again after the rollback. Both come from files on disk, the set-aside part
recomputed from the set-aside journals themselves: a row counts as set aside when a
rollback's copy holds it, journaled after that rollback's cutoff, and the live journal no
longer holds that row (the same key at the same time: an answer bought again is a new row).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import CorruptFile, read_checked_json
from evoprompt.checkpoint.journal_rows import (
    BY_ROLE,
    LOST,
    REJECTED,
    ROLE_FIGURES,
    open_readonly,
    who,
)
from evoprompt.checkpoint.layout import JOURNAL, ROLLBACK_MANIFEST, Layout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import Lineage, RollbackRecord, SchemaError

_RETRIED_OK = "retried_succeeded"  # calls answered after a retry (the success rate's numerator)
# api_stats figures that add up: a fork leaves out its parent's, a rollback adds back its own.
ADDITIVE = (
    "calls",
    "succeeded",
    "failed",
    "retried",
    "retried_calls",
    "fallback_calls",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    LOST,
    "cache_hits",
    REJECTED,
    _RETRIED_OK,
)


def _aside_journals(exp_dir: Path) -> Iterator[tuple[float, Path]]:
    """(cutoff, set-aside journal) of every rollback that set answers aside."""
    for aside in Layout(exp_dir).rollbacks():
        try:
            record = RollbackRecord.from_json(read_checked_json(aside / ROLLBACK_MANIFEST))
        except (OSError, ValueError, SchemaError, PathRefused, CorruptFile):
            continue  # garbled: verify reports it
        copy = aside / JOURNAL
        if not record.keep_answers and copy.is_file() and not copy.is_symlink():
            yield record.cutoff, copy


def set_aside(exp_dir: Path, live: sqlite3.Connection) -> dict[str, Any]:
    """The paid calls rollbacks moved out of the live journal, as api_stats figures (and per
    role, under ``roles``)."""
    kept = set(live.execute("SELECT key, created FROM responses").fetchall())
    kept |= set(live.execute("SELECT 'failed:' || key, created FROM failures").fetchall())
    total: dict[str, Any] = dict.fromkeys(ADDITIVE, 0)
    roles: dict[str, dict[str, float]] = {}
    for cutoff, copy in _aside_journals(exp_dir):
        try:
            with contextlib.closing(open_readonly(copy)) as db:
                rows = db.execute(
                    "SELECT key, created, attempts, prompt_tokens, completion_tokens, cost,"
                    f" fallback, {who(db, 'responses')} FROM responses WHERE created > ?",
                    (cutoff,),
                ).fetchall()
                rows += db.execute(
                    "SELECT 'failed:' || key, created, attempts, 0, 0, 0, 0,"
                    f" {who(db, 'failures')} FROM failures WHERE created > ?",
                    (cutoff,),
                ).fetchall()
        except (sqlite3.Error, PathRefused):
            continue
        for key, created, attempts, prompt, completion, cost, fallback, role in rows:
            if (key, created) in kept:
                continue  # still in the live journal (or counted from an earlier rollback)
            kept.add((key, created))
            failed = key.startswith("failed:")
            total["calls"] += 1
            total["failed" if failed else "succeeded"] += 1
            total["retried"] += attempts - 1
            total["retried_calls"] += attempts > 1
            total[_RETRIED_OK] += attempts > 1 and not failed
            total["fallback_calls"] += fallback
            total["prompt_tokens"] += prompt
            total["completion_tokens"] += completion
            total["cost_usd"] += cost
            if role:
                figures = roles.setdefault(role, dict.fromkeys(ROLE_FIGURES, 0))
                figures["calls"] += 1
                figures["failed" if failed else "succeeded"] += 1
                figures["prompt_tokens"] += prompt
                figures["completion_tokens"] += completion
                figures["cost_usd"] += cost
    total[BY_ROLE] = roles
    return total


def spent(
    journal: Mapping[str, Any], aside: Mapping[str, Any], inherited: Mapping[str, Any]
) -> dict[str, Any]:
    """api_stats of this experiment alone: the journal's figures, less what a fork inherited
    from its parent, plus what rollbacks set aside (each also given on its own)."""
    stats = dict(journal)
    for key in ADDITIVE:
        if key in stats:
            value = stats[key] - inherited.get(key, 0) + aside.get(key, 0)
            stats[key] = round(value, 6) if key == "cost_usd" else int(value)
    if BY_ROLE in stats:
        stats[BY_ROLE] = _roles_spent(
            stats[BY_ROLE], aside.get(BY_ROLE, {}), inherited.get(BY_ROLE, {})
        )
    calls = stats.get("retried_calls", 0)
    retried_ok = stats.get(_RETRIED_OK, 0)
    stats["retry_success_rate"] = round(retried_ok / calls, 4) if calls else None
    stats["set_aside_calls"] = int(aside.get("calls", 0))
    stats["set_aside_cost_usd"] = round(float(aside.get("cost_usd", 0.0)), 6)
    stats["inherited_calls"] = int(inherited.get("calls", 0))
    stats["inherited_cost_usd"] = round(float(inherited.get("cost_usd", 0.0)), 6)
    return stats


def _roles_spent(
    journal: Mapping[str, Any], aside: Mapping[str, Any], inherited: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per role, what :func:`spent` does for the whole."""
    roles: dict[str, dict[str, Any]] = {}
    for role in sorted({*journal, *aside}):
        figures = roles[role] = {}
        for key in ROLE_FIGURES:
            value = (
                journal.get(role, {}).get(key, 0)
                - inherited.get(role, {}).get(key, 0)
                + aside.get(role, {}).get(key, 0)
            )
            figures[key] = round(value, 6) if key == "cost_usd" else int(value)
    return roles


def experiment_spend(
    exp_dir: Path, db: sqlite3.Connection, journal: Mapping[str, Any]
) -> dict[str, Any]:
    """:func:`spent` for the experiment in ``exp_dir`` whose journal ``db`` holds ``journal``."""
    return spent(journal, set_aside(exp_dir, db), inherited(exp_dir))


def inherited(exp_dir: Path) -> dict[str, Any]:
    """What a fork's journal held when it was copied from its parent (empty for no fork)."""
    try:
        lineage = Lineage.of_config(json.loads(read_text(Layout(exp_dir).config)))
    except (OSError, ValueError, SchemaError, PathRefused):
        return {}
    return dict(lineage.inherited) if lineage is not None else {}
