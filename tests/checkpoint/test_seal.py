"""The key that signs result folders: created once (0600), kept outside result folders, never
a link; a signed document verifies, an edited or copied one does not."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from evoprompt.checkpoint.seal import KEY_ENV, MAC_FIELD, KeyRefused, folder_key, sign, signed


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "evoprompt" / "folder.key"
    monkeypatch.setenv(KEY_ENV, str(path))
    return path


def test_the_key_is_created_once_private_and_signs(tmp_path: Path, key_file: Path) -> None:
    exp = tmp_path / "result" / "e1"
    doc = sign({"metric": "accuracy", "base_url": "https://x/v1"}, exp)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    first = key_file.read_bytes()
    assert signed(doc, exp) and MAC_FIELD in doc
    assert key_file.read_bytes() == first  # not made again
    assert not signed({**doc, "base_url": "http://evil/v1"}, exp)
    assert not signed({k: v for k, v in doc.items() if k != MAC_FIELD}, exp)
    key_file.write_text("b" * 64)  # another user's (or machine's) key
    assert not signed(doc, exp)


def test_a_linked_key_or_one_inside_the_result_folder_is_refused(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = tmp_path / "result" / "e1"
    planted = tmp_path / "planted.key"
    planted.write_text("a" * 64)
    key_file.parent.mkdir(parents=True)
    key_file.symlink_to(planted)
    with pytest.raises(KeyRefused, match="symbolic link"):
        sign({"metric": "accuracy"}, exp)
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "result" / "folder.key"))
    with pytest.raises(KeyRefused, match="inside the result folder"):
        folder_key(exp)


def test_without_a_key_documents_are_unsigned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "home-is-a-file"
    blocked.write_text("")  # the key's folder cannot be created (as in a read-only home)
    monkeypatch.setenv(KEY_ENV, str(blocked / "evoprompt" / "folder.key"))
    exp = tmp_path / "result" / "e1"
    doc = sign({"metric": "accuracy"}, exp)
    assert MAC_FIELD not in doc and not signed(doc, exp)
