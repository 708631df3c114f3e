"""The checkpoint folder of one experiment: what is written when, and how it is read back.

Under ``<experiment>/checkpoints/`` (names in :mod:`evoprompt.checkpoint.layout`): latest.json
(the newest save's :class:`~evoprompt.checkpoint.schema.Descriptor`, self-checksummed),
backup.json (the previous one), state.pkl (full state at the last completed generation, with a
checksummed header), ``state_gen<N>.pkl`` (the state.pkl of the end of generation N, a hard
link: what fork and rollback restore), ``gen<N>_batch0.json`` (history copies) and ``batches/``
(evaluated batches). ``state.pkl`` is authoritative and verifies itself; the JSON files
describe it. All writes go through :mod:`evoprompt.checkpoint.atomic`.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import (
    CorruptFile,
    atomic_write_bytes,
    fsync_dir,
    read_checked_json,
    read_file,
    sha256_bytes,
    write_checked_json,
)
from evoprompt.checkpoint.layout import LATEST, Layout
from evoprompt.checkpoint.nofollow import refuse_links, remove
from evoprompt.checkpoint.safe_pickle import UnsafePickle, safe_loads
from evoprompt.checkpoint.schema import BatchRecord, Descriptor, JsonDict, SchemaError


def encode_state(payload: Any, seq: int, created: float | None = None) -> bytes:
    """``state.pkl`` bytes: a JSON header line (seq, sha256 of the pickle, when the state was
    reached: now, unless given), then the pickle."""
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    when = time.time() if created is None else created
    header = {"format": 1, "seq": seq, "sha256": sha256_bytes(body), "created": when}
    return json.dumps(header).encode() + b"\n" + body


def decode_state(path: Path) -> tuple[JsonDict, Any]:
    """Header and payload of ``state.pkl``; raises CorruptFile or UnsafePickle."""
    raw = read_file(path)
    head, sep, body = raw.partition(b"\n")
    try:
        header = json.loads(head)
        expected = header["sha256"]
    except (ValueError, KeyError, TypeError):
        raise CorruptFile(path, "unreadable header (garbled or not a checkpoint)") from None
    if not sep or sha256_bytes(body) != expected:
        raise CorruptFile(path, "checksum mismatch (truncated or garbled)")
    try:
        return header, safe_loads(body)
    except UnsafePickle:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise CorruptFile(path, f"cannot be unpickled ({exc})") from None


def read_descriptor(path: Path) -> Descriptor:
    """A checksummed descriptor file, validated; raises CorruptFile naming what is wrong."""
    try:
        return Descriptor.from_json(read_checked_json(path))
    except SchemaError as exc:
        raise CorruptFile(path, str(exc)) from None


def read_batch(path: Path) -> BatchRecord:
    """A checksummed batch file, validated; raises CorruptFile naming what is wrong."""
    try:
        return BatchRecord.from_json(read_checked_json(path))
    except SchemaError as exc:
        raise CorruptFile(path, str(exc)) from None


@dataclass
class Recovered:
    """What a resume found: the newest valid descriptor, the state, and what went wrong."""

    cursor: Descriptor | None = None
    source: str | None = None
    state: Any = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Position:
    """What a save records besides its sequence, time and state reference."""

    generation: int
    batch_idx: int
    metadata: JsonDict
    experiment_id: str | None = None
    num_individuals: int = 0
    best_fitness: float | None = None


class CheckpointStore:
    def __init__(self, exp_dir: Path, *, enabled: bool = True):
        self.layout = Layout(exp_dir)
        self.enabled = enabled
        self.seq = 0
        self._previous: Descriptor | None = None  # what latest.json holds: backup-to-be
        self._state_ref: tuple[int, str] | None = None  # seq and sha256 of state.pkl on disk

    # -- writing -------------------------------------------------------------------------

    def _descriptor(self, position: Position) -> Descriptor:
        self.seq += 1
        state_seq, state_sha = self._state_ref or (None, None)
        return Descriptor(
            seq=self.seq,
            timestamp=time.time(),
            generation=position.generation,
            batch_idx=position.batch_idx,
            metadata=position.metadata,
            experiment_id=position.experiment_id,
            num_individuals=position.num_individuals,
            best_fitness=position.best_fitness,
            state_seq=state_seq,
            state_sha256=state_sha,
        )

    def _rotate_and_write(self, doc: Descriptor) -> None:
        """backup.json <- the previous descriptor (from memory: a corrupt latest.json on disk
        must not overwrite a good backup), then latest.json <- ``doc``."""
        if self._previous is not None:
            write_checked_json(self.layout.backup, self._previous.to_json())
        write_checked_json(self.layout.latest, doc.to_json())
        self._previous = doc

    def save_cursor(self, position: Position) -> Descriptor:
        """Write latest.json (and rotate backup.json) for a mid-generation moment."""
        doc = self._descriptor(position)
        if self.enabled:
            self._rotate_and_write(doc)
        return doc

    def save_state(
        self, payload: Any, position: Position, *, history: bool = True, snapshot: bool = False
    ) -> None:
        """Write state.pkl, then the generation's history copy (and, with ``snapshot``, keep
        this state.pkl as ``state_gen<N>.pkl``), then latest.json describing it.

        History and snapshot before latest: a kill between them leaves latest one save behind
        (state.pkl is self-verified and used), never a completed generation without them."""
        if not self.enabled:
            return
        blob = self._write_state(payload)
        doc = self._descriptor(position)
        if history:
            write_checked_json(self.layout.history(doc.history_of), doc.to_json())
        if snapshot:
            self._keep_snapshot(doc.history_of, blob)
        self._rotate_and_write(doc)

    def _write_state(self, payload: Any, created: float | None = None) -> bytes:
        blob = encode_state(payload, self.seq + 1, created)
        atomic_write_bytes(self.layout.state, blob)
        head = json.loads(blob.partition(b"\n")[0])
        self._state_ref = (head["seq"], head["sha256"])
        return blob

    def _keep_snapshot(self, generation: int, blob: bytes) -> None:
        """A hard link to the state.pkl just written (state.pkl is only ever replaced by a
        rename, so the link keeps this generation's bytes); a copy where links fail."""
        target = self.layout.snapshot(generation)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            refuse_links(target)
            remove(tmp)
            os.link(self.layout.state, tmp, follow_symlinks=False)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except OSError:
            remove(tmp)
            atomic_write_bytes(target, blob)

    def reset_to(self, payload: Any, position: Position, created: float) -> Descriptor:
        """Make ``payload`` the state a resume starts from: state.pkl, then latest.json and
        backup.json both describing it, then its history copy and snapshot (rollback, fork).

        ``created`` is when the snapshot it comes from was saved, kept as is: a rollback
        applied again after a kill finds the same moment its record names."""
        cursor = self.read_cursor()[0]
        self.seq = max(self.seq, cursor.seq if cursor else 0)
        blob = self._write_state(payload, created)
        doc = self._descriptor(position)
        write_checked_json(self.layout.backup, doc.to_json())
        write_checked_json(self.layout.latest, doc.to_json())
        self._previous = doc
        write_checked_json(self.layout.history(doc.history_of), doc.to_json())
        self._keep_snapshot(doc.history_of, blob)
        return doc

    def save_batch(self, record: BatchRecord, *, test: bool = False) -> None:
        """A dev batch, or with ``test`` a batch of test phase ``record.generation``."""
        if self.enabled:
            where = self.layout.test_batch if test else self.layout.batch
            write_checked_json(where(record.generation, record.batch_idx), record.to_json())

    # -- reading -------------------------------------------------------------------------

    def load_snapshot(self, generation: int) -> Any:
        """The state kept at the end of ``generation``; raises CorruptFile or UnsafePickle."""
        return decode_state(self.layout.snapshot(generation))[1]

    def load_batches(
        self,
        generation: int,
        prompts: list[str] | None,
        rows: list[range],
        *,
        inputs: list[str | None] | None = None,
    ) -> dict[int, BatchRecord]:
        """Valid batch files of ``generation`` evaluated for these prompts and rows (a resume
        with another ``batch_size`` cuts other batches, re-read from the journal). A file may
        hold only some of the prompts: one pruned before the batch was done is left out.
        ``prompts`` None: they are not known yet (children still breeding); a prompt's rows
        are then taken from a file only for the prompts it names.

        With ``inputs`` (the sha256 of each batch's input texts) they are the batches of test
        phase ``generation`` for exactly those inputs.
        """
        done = {}
        for gen, b, path in self.layout.batch_files(test=inputs is not None):
            if gen != generation or b >= len(rows):
                continue
            try:
                record = read_batch(path)
            except CorruptFile:
                continue  # re-evaluated from the journal at no cost
            expected = (rows[b].start, rows[b].stop)
            same_inputs = inputs is None or record.inputs_sha256 == inputs[b]
            known_prompts = prompts is None or {p.text for p in record.prompts} <= set(prompts)
            if record.rows == expected and known_prompts and same_inputs:
                done[b] = record
        return done

    def read_cursor(self) -> tuple[Descriptor | None, str | None, list[str]]:
        """The newest valid descriptor (latest -> backup -> newest history), its file name, and
        a note for each file passed over. Reads JSON only: cheap, and safe on any state.pkl."""
        notes: list[str] = []
        layout = self.layout
        if layout.checkpoints.is_dir():
            for path in [layout.latest, layout.backup, *(p for _, p in layout.history_files())]:
                try:
                    return read_descriptor(path), path.name, notes
                except CorruptFile as exc:
                    if path.exists():
                        notes.append(f"{path.name} is unusable ({exc.why})")
        return None, None, notes

    def recover(self) -> Recovered:
        """Newest valid descriptor and the state, with a note for everything passed over."""
        cursor, source, notes = self.read_cursor()
        found = Recovered(cursor, source, notes=notes)
        if cursor is not None:
            self.seq = max(self.seq, cursor.seq)
            self._previous = cursor if source == LATEST else None
        if self.layout.state.exists():
            try:
                header, found.state = decode_state(self.layout.state)
                self.seq = max(self.seq, int(header["seq"]))
                self._state_ref = (int(header["seq"]), str(header["sha256"]))
                if cursor is not None and cursor.state_sha256 not in (None, header["sha256"]):
                    notes.append(
                        f"{source} describes another state.pkl than the one on disk "
                        "(a save was cut short); state.pkl is self-verified and used"
                    )
            except CorruptFile as exc:
                found.notes.append(f"state.pkl is unusable ({exc.why})")
        return found

    # -- pruning -------------------------------------------------------------------------

    def cleanup(self, current: int, keep_last_n: int) -> list[Path]:
        """Delete history, snapshot and batch files of all but the newest ``keep_last_n``
        generations.

        Never touches latest/backup/state.pkl or the current generation's files: resume needs
        nothing else.
        """
        if not self.enabled:
            return []
        cutoff = current - keep_last_n
        doomed = [p for gen, p in self.layout.history_files() if gen <= cutoff]
        doomed += [p for gen, p in self.layout.snapshot_files() if gen <= cutoff]
        doomed += [p for gen, _, p in self.layout.batch_files() if gen <= cutoff]
        for path in doomed:
            remove(path)
        return doomed
