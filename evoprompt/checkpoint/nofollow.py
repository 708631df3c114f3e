"""The one rule for every path under a result folder: confined to it, and no link followed.

Anyone who can write into a result folder (a shared disk, a folder a colleague sent) could
plant ``checkpoints/rolled_back -> ~`` and have a rollback delete the user's files, or
``.lock -> ~/.bashrc`` and have a run overwrite it. So the folder the user named is a trusted
root (:func:`trust`; it may itself be a link: the user's choice) and, before anything below it
is created, written, read, moved or deleted, every component between the root and the path is
checked with ``lstat``; files are opened ``O_NOFOLLOW``. Names read from records go through
:func:`inside`. A refusal names the link and happens before anything changed.

Only regular files are opened (``O_NONBLOCK`` then ``fstat``): a planted FIFO would hang a
read forever. No existing file with more than one name (``st_nlink > 1``) is written in
place (append, truncate, read-write, a SQLite journal): a hard link to ``~/.ssh/id_rsa``
needs no symlink. The checkpoint files the project hard-links itself (snapshots, batch
files, shared by forks and rollbacks) are only ever replaced by rename, which never touches
the linked file.

The check stops links planted before a command runs (what a tampered folder holds); it is not
a defence against someone racing a running command with write access to the same folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path, PurePosixPath

_ROOTS: set[str] = set()
READ = "read through"  # the action of a read: a hard-linked file may be read, not written


class PathRefused(Exception):
    """A path in an experiment folder that evoprompt will not use: one line for the user."""


class LinkRefused(PathRefused):
    """An operation would have gone through a symbolic link."""

    def __init__(self, path: Path, action: str = "write through"):
        super().__init__(
            f"refusing to {action} the symbolic link {path} (evoprompt never follows links "
            "in an experiment folder); remove it and run the same command again"
        )
        self.path = path


class FileRefused(PathRefused):
    """A file that is not a regular one, or a hard-linked one about to be written in place."""

    def __init__(self, path: Path, action: str, why: str):
        super().__init__(
            f"refusing to {action} {path}: {why}; remove it and run the same command again"
        )
        self.path = path


def _refuse_unusable(path: Path, st: os.stat_result, action: str, writes: bool) -> None:
    """FileRefused for anything but a regular file, or a written one with other names."""
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(path, action, "it is not a regular file (a FIFO, device or socket?)")
    if writes and st.st_nlink > 1:
        raise FileRefused(
            path,
            action,
            f"it is hard-linked ({st.st_nlink} names share it, maybe a file outside the folder)",
        )


def _refuse_existing(path: Path, action: str, writes: bool) -> None:
    """:func:`_refuse_unusable` on ``path`` if it exists (checked before opening it)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISLNK(st.st_mode):  # a link is refused as a link, by refuse_links
        _refuse_unusable(path, st, action, writes)


def confine_to(root: Path) -> Path:
    """Make ``root`` (a result folder the user named) the top of the confinement: nothing
    below it may be a link. Every command calls this for its folder; returns ``root``."""
    _ROOTS.add(os.path.abspath(root))
    return root


def _checked_parts(path: Path) -> list[str]:
    """The components of ``path`` that must not be links: all below its outermost trusted
    root, or without one (a caller of the Python API) its folder and itself."""
    full = os.path.abspath(path)
    roots = [r for r in _ROOTS if full == r or full.startswith(r.rstrip(os.sep) + os.sep)]
    if not roots:
        return [os.path.dirname(full), full]
    root = min(roots, key=len)
    parts, current = [], root
    for name in full[len(root) :].split(os.sep):
        if name:
            current = os.path.join(current, name)
            parts.append(current)
    return parts


def refuse_links(*paths: Path, action: str = "write through") -> None:
    """Raise LinkRefused for the first link among the components of ``paths`` below their
    trusted root (those that exist: a missing folder is made by this tool, as a folder)."""
    for path in paths:
        for part in _checked_parts(path):
            try:
                mode = os.lstat(part).st_mode
            except (FileNotFoundError, NotADirectoryError):
                break
            if stat.S_ISLNK(mode):
                raise LinkRefused(Path(part), action)


def refuse_database_links(path: Path, action: str = "write through") -> None:
    """SQLite opens a database and its ``-wal``/``-shm`` side files following links, blocking
    on a FIFO, and writes them in place: refuse a link, a non-regular file or (unless only
    reading) a hard-linked one as any of them before it opens them."""
    files = [path, *(path.with_name(path.name + side) for side in ("-wal", "-shm"))]
    refuse_links(*files, action=action)
    for file in files:
        _refuse_existing(file, action, writes=action != READ)


def inside(folder: Path, name: str) -> Path | None:
    """``folder / name`` for a plain relative name read from a record (no absolute path, no
    ``..``, no empty or odd component); None for any other name."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or "\\" in name or "\0" in name:
        return None
    if any(part in ("", ".", "..") for part in name.split("/")):
        return None
    return folder.joinpath(*pure.parts)


def make_dirs(folder: Path) -> None:
    """``mkdir -p`` that neither creates a folder through a link nor accepts one (or a file,
    a FIFO) as ``folder`` or a folder above it."""
    refuse_links(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        above = (p for p in (folder, *folder.parents) if os.path.lexists(p))
        bad = next((p for p in above if not is_real_dir(p)), folder)
        raise FileRefused(bad, "use", "it is not a folder") from None


def open_nofollow(path: Path, flags: int, mode: int = 0o644, action: str = "write through") -> int:
    """``os.open`` of a regular file that refuses a link as the file and anywhere below the
    trusted root, and a hard-linked file when opened for writing. Opened ``O_NONBLOCK`` (a
    FIFO does not block) and without ``O_TRUNC`` until ``fstat`` has passed it: a refused file
    is left unchanged."""
    refuse_links(path, action=action)
    writes = bool(flags & (os.O_WRONLY | os.O_RDWR))
    _refuse_existing(path, action, writes)
    plain = (flags & ~os.O_TRUNC) | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, plain, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkRefused(path, action) from None
        if exc.errno == errno.ENXIO:  # a FIFO with no reader, or a socket
            raise FileRefused(path, action, "it is not a regular file") from None
        raise
    try:
        _refuse_unusable(path, os.fstat(fd), action, writes)
        os.set_blocking(fd, True)
        if flags & os.O_TRUNC:
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file in an experiment folder, never read through a link."""
    fd = open_nofollow(path, os.O_RDONLY, action=READ)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def read_text(path: Path) -> str:
    return read_bytes(path).decode("utf-8")


def append_text(path: Path, text: str) -> None:
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(text)


def remove(path: Path) -> None:
    """Unlink a file (gone already is fine) in a folder reached through no link; a link as
    the file itself is removed as a link (``unlink`` never follows the last component)."""
    refuse_links(path.parent, action="delete through")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_tree(folder: Path) -> None:
    """``rm -rf`` of a folder this tool made: refused when it or a folder above it (below the
    root) is a link; inside it, ``shutil.rmtree`` removes links without following them."""
    refuse_links(folder, action="delete through")
    shutil.rmtree(folder, ignore_errors=True)


def rename(source: Path, target: Path) -> None:
    """``os.rename`` with neither end reached through a link, nor ``target`` a link."""
    refuse_links(source, target, action="move through")
    os.rename(source, target)


def is_real_dir(path: Path) -> bool:
    """A folder, not a link to one (a listing's entries are judged by this, not ``is_dir``)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link to a checkpoint file (they are only ever replaced by rename, never
    rewritten), or a copy where the filesystem has no links; neither end through a link."""
    refuse_links(source, action="read through")
    make_dirs(target.parent)
    refuse_links(target)
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)
