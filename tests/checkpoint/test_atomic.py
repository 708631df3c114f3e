"""Atomic writes and self-checking JSON: a reader sees the old or the new file, never half."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from evoprompt.checkpoint.atomic import (
    CHECKSUM_FIELD,
    CorruptFile,
    atomic_write_bytes,
    atomic_write_text,
    read_checked_json,
    write_checked_json,
)


def test_write_creates_folders_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]
    atomic_write_text(tmp_path / "t.txt", "héllo ✓")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo ✓"


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "keep.json"
    atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_concurrent_reader_only_sees_whole_versions(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    versions = [bytes([65 + i]) * 300_000 for i in range(2)]
    atomic_write_bytes(target, versions[0])
    stop = threading.Event()
    seen: set[bytes] = set()
    bad: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            data = target.read_bytes()
            if data in versions:
                seen.add(data[:1])
            else:
                bad.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            atomic_write_bytes(target, versions[i % 2])
    finally:
        stop.set()
        thread.join()
    assert bad == [] and seen  # every read was one whole version


def test_checked_json_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    doc = {"generation": 3, "metadata": {"stage": "generation_3_complete"}, "text": "ünïcode"}
    write_checked_json(path, doc)
    loaded = read_checked_json(path)
    assert {k: v for k, v in loaded.items() if k != CHECKSUM_FIELD} == doc
    assert len(loaded[CHECKSUM_FIELD]) == 64
    # The checksum covers the content, not the layout: re-indenting keeps it valid.
    path.write_text(json.dumps(loaded, indent=None, sort_keys=False))
    assert read_checked_json(path) == loaded


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda text: text.replace('"generation": 3', '"generation": 4'), "checksum mismatch"),
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (lambda text: "", "not valid JSON"),
        (lambda text: '{"generation": 3}', "no checksum field"),
        (lambda text: "[1, 2, 3]", "no checksum field"),
        (lambda text: "\udcff", "not valid JSON"),
    ],
)
def test_damaged_documents_raise_corrupt_file(tmp_path: Path, damage: object, why: str) -> None:
    path = tmp_path / "doc.json"
    write_checked_json(path, {"generation": 3})
    text = damage(path.read_text())  # type: ignore[operator]
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(CorruptFile) as err:
        read_checked_json(path)
    assert why in err.value.why and err.value.path == path
    assert str(err.value).startswith("doc.json: ")


def test_missing_document(tmp_path: Path) -> None:
    with pytest.raises(CorruptFile, match="missing"):
        read_checked_json(tmp_path / "absent.json")
