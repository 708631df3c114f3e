"""Signing what this user's runs write, with a secret kept outside every result folder.

A result folder is data anyone with write access can change (a shared disk, a folder a colleague
sent), so a settings file in it cannot vouch for itself: a plain checksum is recomputed by whoever
edits it. A keyed MAC (HMAC-SHA256) under a per-user secret can: a document whose MAC verifies was
written by this user's own runs. The secret lives in ``$EVOPROMPT_KEY_FILE``, else
``$XDG_STATE_HOME/evoprompt/folder.key`` (default ``~/.local/state/evoprompt/folder.key``),
created once (0600, atomically); a key file that is a symbolic link, or lies inside the result
folder, is refused. A machine or account without the key sees such documents as unsigned.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

KEY_ENV = "EVOPROMPT_KEY_FILE"
MAC_FIELD = "mac"


class KeyRefused(ValueError):
    """The key file cannot be trusted (a link, or inside the result folder): one line."""


def key_path() -> Path:
    given = os.environ.get(KEY_ENV)
    if given:
        return Path(given).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "evoprompt" / "folder.key"


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        return handle.read().strip()


def _create(path: Path) -> None:
    """Write a new secret next to ``path`` and link it into place: a concurrent creator's
    secret wins intact, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(32).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def folder_key(folder: Path) -> bytes | None:
    """The secret (created at first use); None when it cannot be had (a read-only home: what
    this run writes is then unsigned, and checked as any unsigned folder). ``folder`` is the
    experiment folder: a key inside the folder holding it is refused (KeyRefused), as is a key
    file that is a link."""
    path = key_path()
    root = folder.parent.resolve()
    if path.resolve() == root or root in path.resolve().parents:
        raise KeyRefused(
            f"the key file {path} lies inside the result folder {root}: anyone who can write "
            f"there could sign settings; point {KEY_ENV} outside it"
        )
    if not os.path.lexists(path):
        with contextlib.suppress(OSError):
            _create(path)
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise KeyRefused(f"the key file {path} is a symbolic link: refusing to use it")
        key = _read(path)  # O_NOFOLLOW: a link swapped in meanwhile fails here
    except OSError:
        return None
    return key if len(key) >= 32 else None


def _mac(key: bytes, doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != MAC_FIELD}
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, blob.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(doc: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``doc`` with its MAC under this user's key (unsigned when there is no key)."""
    body = {k: v for k, v in doc.items() if k != MAC_FIELD}
    key = folder_key(folder)
    return body if key is None else {**body, MAC_FIELD: _mac(key, body)}


def signed(doc: dict[str, Any], folder: Path) -> bool:
    """Whether ``doc`` carries a MAC that verifies under this user's key."""
    given = doc.get(MAC_FIELD)
    if not isinstance(given, str):
        return False
    key = folder_key(folder)
    return key is not None and hmac.compare_digest(given, _mac(key, doc))
