"""Crash-safe file writes and self-checking JSON documents.

A reader must only ever see the old or the new version of a file, never half of one: write a
temp file in the same folder, flush and fsync it, ``os.replace`` it over the target, then fsync
the folder so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.nofollow import refuse_links

CHECKSUM_FIELD = "checksum"
DISK_FULL = (
    "error: the disk is full; everything saved so far is intact. Free some space and run the "
    "same command again."
)


def disk_full(exc: BaseException) -> bool:
    """An OSError or SQLite error saying the disk (or quota) is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_mode() -> int:
    """The mode ``open()`` gives a new file (0666 less the umask), as the journal and lock get."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that no reader or crash can observe a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    refuse_links(path.parent, path)  # the temp file is created O_EXCL: never through a link
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes it 0600; results are no more secret than the rest
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != CHECKSUM_FIELD}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def write_checked_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` atomically with a ``checksum`` field over its canonical encoding."""
    sealed = {**doc, CHECKSUM_FIELD: sha256_bytes(_canonical(doc))}
    atomic_write_text(path, json.dumps(sealed, indent=2, ensure_ascii=False) + "\n")


class CorruptFile(Exception):
    """A checkpoint file that is unreadable, truncated or fails its checksum."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path.name}: {why}")
        self.path = path
        self.why = why


def read_checked_json(path: Path) -> dict[str, Any]:
    """Load a document written by :func:`write_checked_json`, or raise :class:`CorruptFile`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorruptFile(path, "missing") from None
    except OSError as exc:
        raise CorruptFile(path, f"unreadable ({exc.strerror})") from None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFile(path, f"not valid JSON ({exc.__class__.__name__}), truncated?") from None
    if not isinstance(doc, dict) or CHECKSUM_FIELD not in doc:
        raise CorruptFile(path, "no checksum field")
    if sha256_bytes(_canonical(doc)) != doc[CHECKSUM_FIELD]:
        raise CorruptFile(path, "checksum mismatch (edited or garbled)")
    return doc
