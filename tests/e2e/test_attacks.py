"""What an attacker (or a careless hand) can do to an experiment folder or the command line:
forged journal rows, planted symbolic links, credentials in the URL, unsafe ids."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import (
    SMALL,
    cli_env,
    kill_after_generation,
    outcome,
    run_cli,
    summary,
    victim_args,
)
from tests.e2e.conftest import inspect


def test_forged_and_garbled_journal_rows_are_reported_and_asked_again(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 2)
        exp = tmp_path / "victim"
        (exp / "checkpoints" / "state.pkl").unlink()  # the resume replays from the journal
        with contextlib.closing(sqlite3.connect(exp / "journal.sqlite")) as db, db:
            forged = db.execute(
                "UPDATE responses SET response = replace(response, 'positive', 'negative')"
                ' WHERE response LIKE \'%"text":"positive%\''
            ).rowcount
            db.execute("UPDATE responses SET response = '{oops' WHERE rowid = 1")
        assert forged > 10
        checked = inspect("verify", "victim", "--result-dir", str(tmp_path))
        resumed = run_cli(victim_args(tmp_path), cli_env(server))
    assert checked.code == 1 and "answer rows fail their checks" in checked.out + checked.err
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert "fails its checksum (garbled or edited); it is set aside and asked again" in (
        resumed.stderr
    )
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FakeLLMServer]]:
    """An experiment killed after generation 0, and the endpoint to resume it against."""
    root = tmp_path_factory.mktemp("killed")
    with FakeLLMServer() as server:
        kill_after_generation(server, root, 0)
        yield root / "victim", server


@pytest.mark.parametrize(
    "planted",
    [".lock", "recovery.log", "journal.sqlite-wal", "summary.json", "checkpoints/latest.json"],
)
def test_a_planted_link_is_refused_and_its_target_untouched(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer], planted: str
) -> None:
    source, server = killed
    shutil.copytree(source, tmp_path / "victim")
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    link = tmp_path / "victim" / planted
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    resumed = run_cli(victim_args(tmp_path), cli_env(server))
    assert resumed.returncode == 2, resumed.stderr
    assert f"refusing to write through the symbolic link {link}" in resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert target.read_text() == "precious\n"


def test_a_planted_report_link_is_refused(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer]
) -> None:
    shutil.copytree(killed[0], tmp_path / "victim")
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    (tmp_path / "victim" / "report.md").symlink_to(target)
    made = inspect("report", "victim", "--format", "md", "--result-dir", str(tmp_path))
    assert made.code == 2 and "refusing to write through the symbolic link" in made.err
    assert target.read_text() == "precious\n"


def test_credentials_in_the_url_are_never_stored_and_the_key_still_wins(tmp_path: Path) -> None:
    with FakeLLMServer(faults=Faults(api_key="sk-test")) as server:
        url = server.url.replace("http://", "http://alice:s3cret@")
        done = run_cli(
            [*SMALL, "--max-generations", "1", "--result-dir", str(tmp_path), "--base-url", url],
            {**cli_env(server), "OPENAI_BASE_URL": ""},
        )
    assert done.returncode == 0, done.stderr
    assert "user:password in the base URL is never stored; it is ignored" in done.stderr
    stored = next(tmp_path.glob("*/config.json")).read_text()
    assert "s3cret" not in stored and "alice" not in stored
    assert json.loads(stored)["base_url"] == server.url
    assert "s3cret" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--base-url", "http://127.0.0.1:99999/v1"], "is not a valid URL"),
        (["--experiment-id", "x;$(id)"], "invalid experiment id"),
        (["--experiment-id", "has space"], "invalid experiment id"),
        (["--name", "x;$(id)"], "config key 'name' must be letters"),
    ],
)
def test_unsafe_input_is_one_line_not_a_traceback(
    tmp_path: Path, args: list[str], says: str
) -> None:
    done = run_cli([*args, "--result-dir", str(tmp_path)], cli_env(None), timeout=60)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
