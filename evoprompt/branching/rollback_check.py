"""A rollback record on disk is data, never trusted: what must hold before one is applied.

Anyone who can write into an experiment folder could forge ``rollback.json`` (its checksum is
plain sha256) to have the next resume delete outside files or erase paid answers. So a
record not yet done is applied only when every file it lists is one of the experiment's own
checkpoint files, its cutoff is the moment the snapshot it rolls back to was saved, and the
set-aside journal copy beside it holds every answer it would remove. And since a copied
record passes all that, a pending record must also carry a MAC under this user's key
(:mod:`evoprompt.checkpoint.seal`), as config.json does: an unsigned one is applied only with
``--trust-folder``. ``rollback`` checks this before it applies a record, and ``verify``
reports a record that fails it (read-only).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from evoprompt.branching.snapshot import state_at
from evoprompt.checkpoint.atomic import CHECKSUM_FIELD, write_checked_json
from evoprompt.checkpoint.journal_rows import open_readonly, readonly_uri
from evoprompt.checkpoint.layout import JOURNAL, ROLLBACK_MANIFEST, Layout
from evoprompt.checkpoint.nofollow import PathRefused, refuse_database_links
from evoprompt.checkpoint.schema import RollbackRecord
from evoprompt.checkpoint.seal import KeyRefused, sign, signed
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.config.trust import TRUST_FLAG


class RecordRefused(PathRefused):
    """A rollback record that is not one this tool wrote: it is never applied."""

    def __init__(self, manifest: Path, why: str):
        super().__init__(
            f"{manifest} {why}: it was not written by a rollback, so it is not applied and "
            "nothing was changed; move that folder out of the experiment folder and run the "
            "same command again"
        )


class UnsignedRecord(PathRefused):
    """A pending rollback record this user's key did not sign: a plain resume stops on it."""

    def __init__(self, manifest: Path):
        super().__init__(
            f"{manifest} is an unfinished rollback not signed by your key (edited, copied from "
            "elsewhere, or written by an older version), so it was not applied and nothing was "
            f"changed: resume with {TRUST_FLAG} to apply it if you trust this folder, or move "
            "that folder out of the experiment folder and run the same command again"
        )


def record_signed(exp_dir: Path, doc: dict[str, Any]) -> bool:
    """Whether a rollback record (as read, with its checksum) is signed by this user's key."""
    try:
        return signed({k: v for k, v in doc.items() if k != CHECKSUM_FIELD}, exp_dir)
    except KeyRefused as exc:
        raise PathRefused(str(exc)) from None


def write_record(exp_dir: Path, path: Path, record: RollbackRecord) -> None:
    """Write a rollback record signed by this user's key (unsigned when there is none)."""
    try:
        doc = sign(record.to_json(), exp_dir)
    except KeyRefused as exc:
        raise PathRefused(str(exc)) from None
    write_checked_json(path, doc)


def unsaved_answers(journal: Path, copy: Path, cutoff: float) -> int:
    """Answers journaled after ``cutoff`` that ``copy`` (a set-aside journal) lacks, byte for
    byte; all of them when there is no copy. Read-only, and never through a link."""
    refuse_database_links(journal, action="read through")
    refuse_database_links(copy, action="read through")
    if not journal.exists():
        return 0
    later = "FROM responses r WHERE r.created > ?"
    with contextlib.closing(open_readonly(journal)) as db:
        count = int(db.execute(f"SELECT COUNT(*) {later}", (cutoff,)).fetchone()[0])
        if not count or not copy.is_file():
            return count
        db.execute("ATTACH DATABASE ? AS aside", (readonly_uri(copy),))
        return int(
            db.execute(
                f"SELECT COUNT(*) {later} AND NOT EXISTS (SELECT 1 FROM aside.responses a "
                "WHERE a.key = r.key AND a.response = r.response)",
                (cutoff,),
            ).fetchone()[0]
        )


def check_record(
    exp_dir: Path, aside: Path, record: RollbackRecord
) -> tuple[list[Path], ExperimentState, float]:
    """The files, state and snapshot time a record not yet done would act on; RecordRefused
    (or BranchError: its generation is not kept) when it must not be applied."""
    layout = Layout(exp_dir)
    manifest = aside / ROLLBACK_MANIFEST
    files = []
    for relative in record.files:
        path = layout.own_file(relative)
        if path is None:
            raise RecordRefused(manifest, f"names {relative!r}, not a checkpoint file")
        files.append(path)
    state, created = state_at(exp_dir, record.to_generation)
    if record.cutoff != created:
        why = f"has a cutoff other than the moment generation {record.to_generation} was saved"
        raise RecordRefused(manifest, why)
    if not record.keep_answers:
        unsaved = unsaved_answers(layout.journal, aside / JOURNAL, record.cutoff)
        if unsaved:
            raise RecordRefused(manifest, f"would remove {unsaved} answers it kept no copy of")
    return files, state, created
