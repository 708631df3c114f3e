"""The checkpoint folder of one experiment: what is written when, and how it is read back.

Layout (spec section 4), under ``<experiment>/checkpoints/``::

    latest.json            cursor + stage of the newest save (self-checksummed)
    backup.json            the previous latest.json
    state.pkl              full state at the last completed generation (checksummed header)
    gen<N>_batch0.json     copy of latest.json at the end of generation N
    batches/gen<G>_batch<B>.json   one evaluated batch

``state.pkl`` is authoritative and verifies itself; the JSON files are its descriptors. All
writes go through :mod:`evoprompt.checkpoint.atomic`.
"""

from __future__ import annotations

import json
import pickle
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import (
    CorruptFile,
    atomic_write_bytes,
    read_checked_json,
    sha256_bytes,
    write_checked_json,
)
from evoprompt.checkpoint.safe_pickle import UnsafePickle, safe_loads

CHECKPOINTS = "checkpoints"
LATEST, BACKUP, STATE = "latest.json", "backup.json", "state.pkl"
_HISTORY = re.compile(r"^gen(\d+)_batch0\.json$")
_BATCH = re.compile(r"^gen(\d+)_batch(\d+)\.json$")


def encode_state(payload: Any, seq: int) -> bytes:
    """``state.pkl`` bytes: a JSON header line (seq, sha256 of the pickle), then the pickle."""
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    header = {"format": 1, "seq": seq, "sha256": sha256_bytes(body), "created": time.time()}
    return json.dumps(header).encode() + b"\n" + body


def decode_state(path: Path) -> tuple[dict[str, Any], Any]:
    """Header and payload of ``state.pkl``; raises CorruptFile or UnsafePickle."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorruptFile(path, "missing") from None
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


@dataclass
class Recovered:
    """What a resume found: the newest valid descriptor, the state, and what went wrong."""

    cursor: dict[str, Any] | None = None
    source: str | None = None
    state: Any = None
    notes: list[str] = field(default_factory=list)


class CheckpointStore:
    def __init__(self, exp_dir: Path, *, enabled: bool = True):
        self.exp_dir = exp_dir
        self.folder = exp_dir / CHECKPOINTS
        self.enabled = enabled
        self.seq = 0
        self._previous: dict[str, Any] | None = None  # what latest.json holds: backup-to-be
        self._state_ref: dict[str, Any] = {}  # seq and sha256 of the state.pkl on disk

    # -- writing -------------------------------------------------------------------------

    def _descriptor(self, fields: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return {"seq": self.seq, "timestamp": time.time(), **fields, **self._state_ref}

    def _rotate_and_write(self, doc: dict[str, Any]) -> None:
        """backup.json <- the previous descriptor (from memory: a corrupt latest.json on disk
        must not overwrite a good backup), then latest.json <- ``doc``."""
        if self._previous is not None:
            write_checked_json(self.folder / BACKUP, self._previous)
        write_checked_json(self.folder / LATEST, doc)
        self._previous = doc

    def save_cursor(self, **fields: Any) -> dict[str, Any]:
        """Write latest.json (and rotate backup.json) for a mid-generation moment."""
        doc = self._descriptor(fields)
        if self.enabled:
            self._rotate_and_write(doc)
        return doc

    def save_state(self, payload: Any, *, history_of: int | None, **fields: Any) -> None:
        """Write state.pkl, then latest.json describing it, then the generation's history copy."""
        if not self.enabled:
            return
        blob = encode_state(payload, self.seq + 1)
        atomic_write_bytes(self.folder / STATE, blob)
        head = json.loads(blob.partition(b"\n")[0])
        self._state_ref = {"state_seq": head["seq"], "state_sha256": head["sha256"]}
        doc = self._descriptor(fields)
        self._rotate_and_write(doc)
        if history_of is not None:
            write_checked_json(self.folder / f"gen{history_of}_batch0.json", doc)

    def save_batch(self, generation: int, batch_idx: int, doc: dict[str, Any]) -> None:
        if self.enabled:
            path = self.folder / "batches" / f"gen{generation}_batch{batch_idx}.json"
            write_checked_json(path, {"generation": generation, **doc})

    # -- reading -------------------------------------------------------------------------

    def history_files(self) -> list[Path]:
        """History copies, newest generation first."""
        found = [
            (int(m.group(1)), p)
            for p in self.folder.glob("gen*_batch0.json")
            if (m := _HISTORY.match(p.name))
        ]
        return [p for _, p in sorted(found, reverse=True)]

    def batch_files(self) -> list[tuple[int, int, Path]]:
        batches = self.folder / "batches"
        found = [
            (int(m.group(1)), int(m.group(2)), p)
            for p in batches.glob("gen*_batch*.json")
            if (m := _BATCH.match(p.name))
        ]
        return sorted(found)

    def load_batches(
        self, generation: int, prompts: list[str], rows: list[range]
    ) -> dict[int, dict[str, Any]]:
        """Valid batch files of ``generation`` evaluated for exactly these prompts and rows
        (a resume with another ``batch_size`` cuts other batches, re-read from the journal)."""
        done = {}
        for gen, b, path in self.batch_files():
            if gen != generation:
                continue
            try:
                doc = read_checked_json(path)
            except CorruptFile:
                continue  # re-evaluated from the journal at no cost
            expected = [rows[b].start, rows[b].stop] if b < len(rows) else None
            if doc.get("rows") == expected and [e["text"] for e in doc["prompts"]] == prompts:
                done[b] = doc
        return done

    def read_cursor(self) -> tuple[dict[str, Any] | None, str | None, list[str]]:
        """The newest valid descriptor (latest -> backup -> newest history), its file name, and
        a note for each file passed over. Reads JSON only: cheap, and safe on any state.pkl."""
        notes = []
        if self.folder.is_dir():
            for path in [self.folder / LATEST, self.folder / BACKUP, *self.history_files()]:
                try:
                    return read_checked_json(path), path.name, notes
                except CorruptFile as exc:
                    if path.exists():
                        notes.append(f"{path.name} is unusable ({exc.why})")
        return None, None, notes

    def recover(self) -> Recovered:
        """Newest valid descriptor and the state, with a note for everything passed over."""
        cursor, source, notes = self.read_cursor()
        found = Recovered(cursor, source, notes=notes)
        if cursor is not None:
            self.seq = max(self.seq, int(cursor.get("seq", 0)))
            self._previous = cursor if source == LATEST else None
        state_path = self.folder / STATE
        if state_path.exists():
            try:
                header, found.state = decode_state(state_path)
                self.seq = max(self.seq, int(header["seq"]))
                self._state_ref = {"state_seq": header["seq"], "state_sha256": header["sha256"]}
                if cursor is not None and cursor.get("state_sha256") not in (
                    None,
                    header["sha256"],
                ):
                    notes.append(
                        f"{source} describes another state.pkl than the one on disk "
                        "(a save was cut short); state.pkl is self-verified and used"
                    )
            except CorruptFile as exc:
                found.notes.append(f"state.pkl is unusable ({exc.why})")
        return found

    # -- pruning -------------------------------------------------------------------------

    def cleanup(self, current: int, keep_last_n: int) -> list[Path]:
        """Delete history and batch files of all but the newest ``keep_last_n`` generations.

        Never touches latest/backup/state.pkl or the current generation's files: resume needs
        nothing else.
        """
        if not self.enabled:
            return []
        cutoff = current - keep_last_n
        doomed = [p for p in self.history_files() if int(_HISTORY.match(p.name)[1]) <= cutoff]
        doomed += [p for gen, _, p in self.batch_files() if gen <= cutoff]
        for path in doomed:
            path.unlink(missing_ok=True)
        return doomed
