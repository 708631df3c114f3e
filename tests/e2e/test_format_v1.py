"""An experiment written before documents carried a format version (tests/fixtures/format_v1,
made by the code of 3d9773d) resumes with this one: the run killed with kill -9 ends with the
summary of the same run left uninterrupted then, a pending rollback is finished; and a folder
of a newer evoprompt is refused with one line before anything is asked or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evoprompt.checkpoint.schema.fields import FORMAT, FORMAT_FIELD
from evoprompt.testing.server import FakeLLMServer
from tests.checkpoint.test_format import _bump
from tests.conftest import cli_env, duplicate_answers, outcome, run_cli, summary
from tests.e2e.conftest import tree_hashes


def kept(folder: Path) -> dict[str, str]:
    """What a refused command must leave as it was: every file but the temporary files of
    writes a kill -9 cut short (int has one), which any opening of the folder removes."""
    return {k: v for k, v in tree_hashes(folder).items() if not k.endswith(".tmp")}


def resume(results: Path, server: FakeLLMServer, exp_id: str, *extra: str) -> tuple[int, str]:
    done = run_cli(
        [*extra, "--experiment-id", exp_id, "--result-dir", str(results)], cli_env(server)
    )
    return done.returncode, done.stderr


def test_a_run_killed_before_the_format_resumes_to_the_uninterrupted_result(
    v1_results: Path,
    server: FakeLLMServer,
) -> None:
    code, err = resume(v1_results, server, "int")
    assert code == 0, err
    # fin is the same run (same settings and seed) left to finish by the old code.
    assert outcome(summary(v1_results, "int")) == outcome(summary(v1_results, "fin"))
    assert duplicate_answers(server) == 0
    for name in ("summary.json", "checkpoints/latest.json"):  # config.json: as it was
        assert json.loads((v1_results / "int" / name).read_text())[FORMAT_FIELD] == FORMAT


def test_a_pending_rollback_written_before_the_format_is_finished_by_a_resume(
    v1_results: Path,
    server: FakeLLMServer,
) -> None:
    code, err = resume(v1_results, server, "rb")
    assert code == 0, err
    done = summary(v1_results, "rb")
    assert done["status"] == "finished" and len(done["generations"]) == 3
    record = next((v1_results / "rb/checkpoints/rolled_back").glob("*/rollback.json"))
    assert json.loads(record.read_text())["done"] is True


@pytest.mark.parametrize("where", ["config.json", "checkpoints/latest.json"])
def test_a_newer_folder_is_neither_resumed_nor_forked(
    v1_results: Path,
    server: FakeLLMServer,
    where: str,
) -> None:
    _bump(v1_results / "int" / where)
    before = kept(v1_results)
    commands = [("int", [])]
    if where == "config.json":  # what a fork reads first (it copies the state, not latest)
        commands.append(("int_fork", ["fork", "int", "--at-generation", "0"]))
    for exp_id, extra in commands:
        code, err = resume(v1_results, server, exp_id, *extra)
        assert code == 2, err
        assert err.count("\n") == 1 and "written by a newer evoprompt" in err, err
    assert server.stats().get("seen", 0) == 0 and not server.answered_bodies
    assert kept(v1_results) == before
