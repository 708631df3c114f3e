"""The confinement rule on real files and links: below a trusted root nothing is created,
written, read, moved or deleted through a symbolic link, and record names stay inside."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from evoprompt.checkpoint.atomic import (
    CorruptFile,
    atomic_write_text,
    read_checked_json,
    sweep_temp_files,
)
from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.lock import ExperimentLock
from evoprompt.checkpoint.nofollow import (
    LinkRefused,
    PathRefused,
    append_text,
    confine_to,
    inside,
    link_or_copy,
    make_dirs,
    open_nofollow,
    read_bytes,
    refuse_database_links,
    remove,
    remove_tree,
    rename,
)
from evoprompt.checkpoint.schema import SchemaError
from evoprompt.checkpoint.schema.sweep import CellRecord


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A stand-in for the user's home: what a planted link points at."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("secret key\n")
    return home


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_a_link_deep_below_the_root_is_refused_for_every_operation(
    tmp_path: Path, home: Path
) -> None:
    root = confine_to(tmp_path / "result")
    exp = root / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    (exp / "checkpoints" / "rolled_back").symlink_to(home)
    inner = exp / "checkpoints" / "rolled_back" / ".ssh"
    before = snapshot(home)
    operations = [
        lambda: atomic_write_text(inner / "batches" / "x.json", "{}"),
        lambda: make_dirs(inner / "new"),
        lambda: remove(inner / "id_rsa"),
        lambda: remove_tree(inner),
        lambda: read_bytes(inner / "id_rsa"),
        lambda: rename(exp / "checkpoints", inner / "moved"),
        lambda: link_or_copy(inner / "id_rsa", exp / "copy"),
    ]
    for operation in operations:
        with pytest.raises(LinkRefused) as refused:
            operation()
        assert refused.value.path == exp / "checkpoints" / "rolled_back"
    assert snapshot(home) == before
    assert not (exp / "copy").exists() and (exp / "checkpoints").is_dir()


def test_the_root_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "disk"
    real.mkdir()
    (tmp_path / "result").symlink_to(real)
    root = confine_to(tmp_path / "result")
    atomic_write_text(root / "exp" / "checkpoints" / "latest.json", "{}\n")
    assert (real / "exp" / "checkpoints" / "latest.json").read_text() == "{}\n"


def test_a_link_as_the_file_is_refused_on_write_and_read(tmp_path: Path, home: Path) -> None:
    root = confine_to(tmp_path / "result")
    (root / "exp").mkdir(parents=True)
    planted = root / "exp" / "config.json"
    planted.symlink_to(home / ".ssh" / "id_rsa")
    with pytest.raises(LinkRefused):
        atomic_write_text(planted, "{}")
    with pytest.raises(CorruptFile, match="refusing to read through the symbolic link"):
        read_checked_json(planted)
    dangling = root / "exp" / "summary.json"
    dangling.symlink_to(home / "created-by-a-write")
    with pytest.raises(LinkRefused):
        atomic_write_text(dangling, "{}")
    assert not (home / "created-by-a-write").exists()
    assert (home / ".ssh" / "id_rsa").read_text() == "secret key\n"


@pytest.mark.parametrize(
    "name", ["../victim", "/etc/passwd", "a/../../b", "", "a//b", "./a", "a\\..\\b", "a/\0"]
)
def test_names_from_records_that_leave_the_folder_are_rejected(tmp_path: Path, name: str) -> None:
    assert inside(tmp_path, name) is None


def test_a_record_may_name_only_the_layouts_own_files(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "exp")
    assert layout.own_file("checkpoints/state_gen3.pkl") == layout.snapshot(3)
    assert layout.own_file("checkpoints/batches/gen2_batch1.json") == layout.batch(2, 1)
    assert layout.own_file("checkpoints/batches/test1_batch0.json") == layout.test_batch(1, 0)
    assert layout.own_file("summary.json") == layout.summary
    for other in [
        "journal.sqlite",
        "config.json",
        "checkpoints/gen2_batch1.json",  # a batch name where history copies live
        "checkpoints/state_gen03.pkl",
        "checkpoints/../../victim/state_gen3.pkl",
        "/abs/checkpoints/state_gen3.pkl",
        "other/checkpoints/latest.json",
    ]:
        assert layout.own_file(other) is None, other


def test_the_temp_sweep_removes_only_its_own_regular_files(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    mine = [folder / ".population.jsonl.k2_x9ab1.tmp", folder / ".state_gen1.pkl.4242.tmp"]
    for path in mine:
        path.write_text("half")
    kept = [folder / "notes.tmp", folder / ".hidden", folder / "population.jsonl"]
    for path in kept:
        path.write_text("keep")
    (folder / ".linked.abc.tmp").symlink_to(home / ".ssh" / "id_rsa")
    (folder / ".adir.abc.tmp").mkdir()
    assert sorted(sweep_temp_files(folder)) == sorted(mine)
    assert all(p.exists() for p in kept) and (folder / ".adir.abc.tmp").is_dir()
    assert os.path.islink(folder / ".linked.abc.tmp")
    assert (home / ".ssh" / "id_rsa").read_text() == "secret key\n"


@pytest.mark.parametrize("cell_id", ["../../victim", "/tmp/x", ".hidden", "a/b"])
def test_a_sweep_record_cannot_name_a_cell_outside_its_folder(cell_id: str) -> None:
    with pytest.raises(SchemaError, match="not a plain folder name"):
        CellRecord.from_json({"id": cell_id, "params": {}, "status": "pending"})


# -- hard links and files that are not regular files -------------------------------------------


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Turn a read that blocks (a FIFO without a writer) into a failure, not a stuck run."""

    def stuck(signum: int, frame: FrameType | None) -> None:
        raise RuntimeError("blocked on a FIFO")  # no OSError: a reader catches those

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(10)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_hard_linked_file_is_never_written_in_place(tmp_path: Path, home: Path) -> None:
    """``ln ~/.ssh/id_rsa exp/.lock`` needs no symlink: the lock, an append (recovery.log) and a
    read-write or truncating open refuse it, naming it; reading it is fine."""
    key = home / ".ssh" / "id_rsa"
    exp = confine_to(tmp_path / "result") / "exp"
    exp.mkdir(parents=True)
    for name in (".lock", "recovery.log", "report.md"):
        os.link(key, exp / name)
    with pytest.raises(PathRefused, match=f"{exp / '.lock'}: it is hard-linked"):
        ExperimentLock(exp).acquire()
    with pytest.raises(PathRefused, match="hard-linked"):
        append_text(exp / "recovery.log", "a line\n")
    for flags in (os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND):
        with pytest.raises(PathRefused, match="hard-linked"):
            open_nofollow(exp / "report.md", flags)
    assert read_bytes(exp / "recovery.log") == b"secret key\n"
    atomic_write_text(exp / "report.md", "# report\n")  # a rename: a new file, the key kept
    assert (exp / "report.md").read_text() == "# report\n"
    assert key.read_text() == "secret key\n" and os.stat(key).st_nlink == 3


@pytest.mark.parametrize("side", ["", "-wal", "-shm"])
def test_a_hard_linked_journal_is_refused_before_sqlite_opens_it(
    tmp_path: Path, home: Path, side: str
) -> None:
    outside = home / "app.sqlite"
    with sqlite3.connect(outside) as db:
        db.execute("CREATE TABLE mine (x)")
    exp = confine_to(tmp_path / "result") / "exp"
    exp.mkdir(parents=True)
    journal = exp / "journal.sqlite"
    os.link(outside, exp / f"journal.sqlite{side}")
    before = outside.read_bytes()
    with pytest.raises(PathRefused, match=f"journal.sqlite{side}: it is hard-linked"):
        Journal(journal)
    refuse_database_links(exp / "journal.sqlite", action="read through")  # reading is fine
    assert outside.read_bytes() == before


@pytest.mark.parametrize("name", ["config.json", "checkpoints/latest.json", "journal.sqlite"])
def test_a_fifo_is_refused_at_once_never_read(tmp_path: Path, no_hang: None, name: str) -> None:
    exp = confine_to(tmp_path / "result") / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    os.mkfifo(exp / name)
    with pytest.raises(PathRefused, match="not a regular file"):
        read_bytes(exp / name)
    with pytest.raises(CorruptFile, match="not a regular file"):
        read_checked_json(exp / name)
    with pytest.raises(PathRefused, match="not a regular file"):
        refuse_database_links(exp / name, action="read through")
    with pytest.raises(PathRefused, match="not a regular file"):
        append_text(exp / name, "x")


def test_a_file_where_a_folder_belongs_is_one_refusal(tmp_path: Path) -> None:
    root = confine_to(tmp_path / "result")
    root.mkdir()
    os.mkfifo(root / ".staging")
    (root / "plain").write_text("a file\n")
    for folder, bad in (
        (root / ".staging", root / ".staging"),
        (root / ".staging" / "f7.123", root / ".staging"),
        (root / "plain" / "below", root / "plain"),
    ):
        with pytest.raises(PathRefused, match="it is not a folder") as refused:
            make_dirs(folder)
        assert str(bad) in str(refused.value)
    assert (root / "plain").read_text() == "a file\n"
