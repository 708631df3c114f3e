"""What an attacker (or a careless hand) can do to an experiment folder or the command line:
forged journal rows, planted symbolic links, credentials in the URL, unsafe ids."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, kill_after_generation, outcome, run_cli, summary, victim_args
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
                " WHERE response LIKE '%\"text\":\"positive%'"
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
