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
import re
import sqlite3
import stat
import tempfile
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.nofollow import PathRefused, make_dirs, read_bytes, refuse_links

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
TMP_SUFFIX = ".tmp"
# ``.<target name>.<mkstemp's 8 characters, or a pid>.tmp``: the only names the sweep removes.
TMP_NAME = re.compile(r"^\.[^/]+\.[a-z0-9_]+\.tmp$")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that no reader or crash can observe a partial file."""
    make_dirs(path.parent)
    refuse_links(path)  # the temp file is created O_EXCL: never through a link
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
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


def sweep_temp_files(folder: Path) -> list[Path]:
    """Remove the temp files of writes a kill -9 cut short, in ``folder`` (the caller holds
    the experiment's lock: no write is under way). Only regular files named as this module
    names them; never through a link."""
    if not folder.is_dir():
        return []
    refuse_links(folder, action="delete through")
    removed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if TMP_NAME.match(entry.name) and stat.S_ISREG(
                entry.stat(follow_symlinks=False).st_mode
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


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


def read_file(path: Path) -> bytes:
    """A checkpoint file's bytes, or :class:`CorruptFile` (missing, unreadable, or reached
    through a symbolic link: never followed, so never used)."""
    try:
        return read_bytes(path)
    except FileNotFoundError:
        raise CorruptFile(path, "missing") from None
    except PathRefused as exc:
        raise CorruptFile(path, str(exc)) from None
    except OSError as exc:
        raise CorruptFile(path, f"unreadable ({exc.strerror})") from None


def read_checked_json(path: Path) -> dict[str, Any]:
    """Load a document written by :func:`write_checked_json`, or raise :class:`CorruptFile`."""
    raw = read_file(path)
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFile(path, f"not valid JSON ({exc.__class__.__name__}), truncated?") from None
    if not isinstance(doc, dict) or CHECKSUM_FIELD not in doc:
        raise CorruptFile(path, "no checksum field")
    if sha256_bytes(_canonical(doc)) != doc[CHECKSUM_FIELD]:
        raise CorruptFile(path, "checksum mismatch (edited or garbled)")
    return doc
