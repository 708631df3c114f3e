"""Writes inside an experiment folder never follow a symbolic link.

Anyone who can write into an experiment folder could plant ``.lock -> ~/.bashrc`` and have the
next run overwrite it. Files are opened with ``O_NOFOLLOW`` and the folders and targets of
atomic writes are checked with ``lstat``; a planted link is refused with its path named.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class LinkRefused(Exception):
    """A write would have gone through a symbolic link."""

    def __init__(self, path: Path):
        super().__init__(
            f"refusing to write through the symbolic link {path} (evoprompt never follows links "
            "in an experiment folder); remove it and run the same command again"
        )
        self.path = path


def refuse_links(*paths: Path) -> None:
    """Raise LinkRefused for the first of ``paths`` that is a symbolic link."""
    for path in paths:
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise LinkRefused(path)
        except FileNotFoundError:
            continue


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a link as the last component and as the folder holding it."""
    refuse_links(path.parent)
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkRefused(path) from None
        raise


def append_text(path: Path, text: str) -> None:
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(text)


def write_file(path: Path, data: bytes) -> None:
    """Create or overwrite ``path`` (a report, a plot) without following a link."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
