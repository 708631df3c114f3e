"""The confinement rule on real files and links: below a trusted root nothing is created,
written, read, moved or deleted through a symbolic link, and record names stay inside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evoprompt.checkpoint.atomic import (
    CorruptFile,
    atomic_write_text,
    read_checked_json,
    sweep_temp_files,
)
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import (
    LinkRefused,
    confine_to,
    inside,
    link_or_copy,
    make_dirs,
    read_bytes,
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
