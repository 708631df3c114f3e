"""A result folder is data: its config.json alone never runs code, sends the key elsewhere or
counts cost, and its journal's gaps and edits are reported (docs/security.md).

The attacker here can write the folder: a planted ``python:`` metric (whose module would write a
marker file on import), a base URL pointing at another listener, a stripped signature, journal
rows deleted or edited with their checksum recomputed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from evoprompt.checkpoint.seal import MAC_FIELD
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import SMALL, cli_env, kill_after_generation, run_cli, victim_args
from tests.e2e.conftest import inspect
from tests.loopback import Loopback, QuietHandler


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FakeLLMServer]]:
    """An experiment killed once generation 0 is done (it can be forked there), and the
    endpoint to resume it against."""
    root = tmp_path_factory.mktemp("killed")
    with FakeLLMServer() as server:
        kill_after_generation(server, root, 1)
        yield root / "victim", server


def _copy(killed: tuple[Path, FakeLLMServer], root: Path) -> Path:
    shutil.copytree(killed[0], root / "victim")
    return root / "victim"


def _edit(exp: Path, **values: object) -> None:
    """Change config.json as an attacker would: the values, and the signature kept as is."""
    path = exp / "config.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, **values}, indent=2))


def _plant(exp: Path, marker: Path) -> str:
    """A metric module in the folder that writes ``marker`` when imported; its spec."""
    module = exp / "checkpoints" / "helper.py"
    module.write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "def f(output, reference, example):\n    return 1.0\n"
    )
    spec = f"python:{module}:f"
    _edit(exp, metric=spec)
    return spec


def _commands(root: Path, spec: str) -> list[list[str]]:
    where = ["--result-dir", str(root)]
    fork = ["fork", "victim", "--at-generation", "0", "--experiment-id", "f2", *where]
    return [
        victim_args(root),
        ["--experiment-id", "victim", *where],
        [*fork],
        [*fork, "--dry-run"],
        ["test", "victim", *where],
        ["--dry-run", *SMALL, *where, "--metric", spec],  # a dry run imports nothing
    ]


def test_a_planted_metric_runs_on_no_command(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer]
) -> None:
    exp = _copy(killed, tmp_path)
    marker = tmp_path / "marker"
    spec = _plant(exp, marker)
    before = (exp / "config.json").read_text()
    for args in _commands(tmp_path, spec):
        done = run_cli(args, cli_env(killed[1]))
        assert not marker.exists(), args
        assert "Traceback" not in done.stderr, args
        if "--dry-run" not in args or "fork" in args:
            assert done.returncode == 2, (args, done.stderr)
            assert f"sets metric = '{spec}'" in done.stderr, args
            assert "--trust-folder" in done.stderr and len(done.stderr.splitlines()) == 1
    for command in ("verify", "report", "status"):
        inspect(command, "victim", "--result-dir", str(tmp_path))
        assert not marker.exists(), command
    assert (exp / "config.json").read_text() == before  # nothing written
    assert not (tmp_path / "f2").exists()


@pytest.mark.parametrize("confirm", ["--trust-folder", "--metric"])
def test_a_confirmed_metric_runs_and_the_folder_is_signed_again(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer], confirm: str
) -> None:
    exp = _copy(killed, tmp_path)
    marker = tmp_path / "marker"
    spec = _plant(exp, marker)
    extra = [confirm] if confirm == "--trust-folder" else [confirm, spec]
    done = run_cli([*victim_args(tmp_path), *extra], cli_env(killed[1]))
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ran"
    assert json.loads((exp / "config.json").read_text())["metric"] == spec
    again = run_cli(victim_args(tmp_path), cli_env(killed[1]))  # signed now: no question
    assert again.returncode == 0, again.stderr
    assert "already finished" in again.stderr


class _Recorder(QuietHandler):
    """Another listener: records every request's Authorization header."""

    seen: ClassVar[list[str]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        with self.lock:
            self.seen.append(self.headers.get("Authorization", ""))
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST


def test_an_edited_base_url_gets_no_request_and_no_key(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer]
) -> None:
    exp = _copy(killed, tmp_path)
    other = Loopback(_Recorder)
    _Recorder.seen.clear()
    try:
        _edit(exp, base_url=other.origin + "/v1")
        env = {**cli_env(killed[1], key="sk-precious"), "OPENAI_BASE_URL": ""}
        refused = run_cli([*victim_args(tmp_path), "--max-outage", "0"], env)
        forked = run_cli(
            ["fork", "victim", "--at-generation", "0", "--result-dir", str(tmp_path)], env
        )
        again = run_cli([*victim_args(tmp_path), "--base-url", killed[1].url], env)
        # Overridden, not confirmed: the folder's URL is not signed by that run.
        after = run_cli([*victim_args(tmp_path), "--max-generations", "4"], env)
    finally:
        other.close()
    assert _Recorder.seen == []
    assert refused.returncode == 2 and f"sets base_url = '{other.origin}/v1'" in refused.stderr
    assert forked.returncode == 2 and "base_url" in forked.stderr
    assert again.returncode == 0, again.stderr  # the user's own endpoint given: it goes on
    assert after.returncode == 2 and "base_url" in after.stderr


def test_an_unsigned_folder_asks_only_for_risky_values_it_decides(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer]
) -> None:
    """A folder written before signing (or whose signature was stripped) resumes silently when
    this invocation names the same endpoint, and is signed from then on."""
    exp = _copy(killed, tmp_path)
    config = exp / "config.json"
    doc = json.loads(config.read_text())
    assert MAC_FIELD in doc
    config.write_text(json.dumps({k: v for k, v in doc.items() if k != MAC_FIELD}))
    without_url = {**cli_env(killed[1]), "OPENAI_BASE_URL": ""}
    asked = run_cli(victim_args(tmp_path), without_url)
    assert asked.returncode == 2 and f"sets base_url = '{killed[1].url}'" in asked.stderr
    done = run_cli(victim_args(tmp_path), cli_env(killed[1]))  # the same endpoint, given
    assert done.returncode == 0, done.stderr
    assert MAC_FIELD in json.loads(config.read_text())
    assert run_cli(victim_args(tmp_path), without_url).returncode == 0  # signed: trusted


def _checksum(key: str, payload: str) -> str:
    return hashlib.sha256(key.encode() + b"\0" + payload.encode()).hexdigest()


def test_deleted_and_forged_journal_rows_are_reported_by_verify_and_on_resume(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer]
) -> None:
    exp = _copy(killed, tmp_path)
    with contextlib.closing(sqlite3.connect(exp / "journal.sqlite")) as db, db:
        rows = db.execute(
            'SELECT key, response FROM responses WHERE response LIKE \'%"text":"positive%\''
        ).fetchall()
        forged = 0
        for key, response in rows[:5]:
            edited = response.replace('"text":"positive', '"text":"negative', 1)
            db.execute(
                "UPDATE responses SET response = ?, checksum = ? WHERE key = ?",
                (edited, _checksum(key, edited), key),
            )
            forged += 1
        deleted = db.execute("DELETE FROM responses WHERE rowid % 7 = 0").rowcount
    assert forged == 5 and deleted > 5
    checked = inspect("verify", "victim", "--result-dir", str(tmp_path))
    assert checked.code == 1
    said = checked.out + checked.err
    assert "answers the checkpoints record are missing from the journal" in said
    assert "journaled answers differ from what the batch files recorded" in said
    resumed = run_cli(victim_args(tmp_path), cli_env(killed[1]))
    assert resumed.returncode == 0, resumed.stderr
    note = next(line for line in resumed.stderr.splitlines() if "missing from the journal" in line)
    assert note.startswith("recovery: ") and "differ from what the batch files recorded" in note


def test_answers_deleted_with_their_batch_files_are_still_reported(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer]
) -> None:
    """Every journal row and every batch file deleted: population.jsonl still says which
    prompts were scored on every dev row, so verify and the resume name the gone answers
    instead of re-paying them without a word."""
    exp = _copy(killed, tmp_path)
    with contextlib.closing(sqlite3.connect(exp / "journal.sqlite")) as db, db:
        assert db.execute("DELETE FROM responses").rowcount > 0
    shutil.rmtree(exp / "checkpoints" / "batches")
    checked = inspect("verify", "victim", "--result-dir", str(tmp_path))
    assert checked.code == 1
    assert "answers the checkpoints record are missing from the journal" in checked.out
    resumed = run_cli(victim_args(tmp_path), cli_env(killed[1]))
    assert resumed.returncode == 0, resumed.stderr
    note = next(line for line in resumed.stderr.splitlines() if "missing from the journal" in line)
    assert note.startswith("recovery: ")


def test_a_dropped_checksum_column_is_refused_until_trusted(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer]
) -> None:
    exp = _copy(killed, tmp_path)
    with contextlib.closing(sqlite3.connect(exp / "journal.sqlite")) as db, db:
        db.execute("ALTER TABLE responses DROP COLUMN checksum")
    checked = inspect("verify", "victim", "--result-dir", str(tmp_path))
    assert checked.code == 1 and "no checksum column" in checked.out + checked.err
    refused = run_cli(victim_args(tmp_path), cli_env(killed[1]))
    assert refused.returncode == 2 and "no checksum column" in refused.stderr
    assert "--trust-folder" in refused.stderr and "Traceback" not in refused.stderr
    trusted = run_cli([*victim_args(tmp_path), "--trust-folder"], cli_env(killed[1]))
    assert trusted.returncode == 0, trusted.stderr


def test_a_run_without_a_budget_does_not_sign_forged_prices(
    tmp_path: Path, killed: tuple[Path, FakeLLMServer]
) -> None:
    """Free prices planted in an unsigned folder: a --max-cost resume asks for them, but one
    plain resume first (no budget counts by prices, so none are asked for) signed the folder
    with them, and then --max-cost 0.0001 ran hundreds of calls at "$0.0000"."""
    exp = _copy(killed, tmp_path)
    model = json.loads((exp / "config.json").read_text())["model"]
    _edit(exp, prices={model: {"prompt": 0.0, "completion": 0.0}})
    budget = [*victim_args(tmp_path), "--max-generations", "5", "--max-cost", "0.0001"]
    unsigned = (exp / "config.json").read_bytes()
    fake = killed[1]  # the folder's own endpoint: nothing but the prices is unconfirmed
    env = cli_env(fake)
    asked = run_cli(budget, env)
    assert asked.returncode == 2 and "sets prices = " in asked.stderr, asked.stderr
    plain = run_cli(victim_args(tmp_path), env)  # runs: no budget counts by prices
    assert plain.returncode == 0, plain.stderr
    assert (exp / "config.json").read_bytes() == unsigned  # not signed by that run
    paid = fake.counts["answered"]
    again = run_cli(budget, env)
    assert fake.counts["answered"] == paid  # nothing paid under the forged prices
    assert again.returncode == 2 and "sets prices = " in again.stderr, again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
