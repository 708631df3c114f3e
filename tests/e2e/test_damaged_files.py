"""The defining promise when files are damaged between a kill and the resume: a truncated
latest.json, a garbled or tampered state.pkl, a garbled journal."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import read_checked_json, sha256_bytes, write_checked_json
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import (
    TouchFile,
    cli_env,
    duplicate_answers,
    kill_after_generation,
    outcome,
    run_cli,
    summary,
    victim_args,
)


def test_truncated_latest_json_falls_back_and_finishes(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 1)
        latest = tmp_path / "victim" / "checkpoints" / "latest.json"
        latest.write_bytes(latest.read_bytes()[:40])
        resumed = run_cli(victim_args(tmp_path), cli_env(server))
    assert resumed.returncode == 0, resumed.stderr
    assert "latest.json is unusable" in resumed.stderr
    assert "from backup.json" in resumed.stderr
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])


def test_garbled_state_pkl_is_rebuilt_from_the_journal(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 2)
        state = tmp_path / "victim" / "checkpoints" / "state.pkl"
        raw = bytearray(state.read_bytes())
        raw[-20:-10] = b"\x00" * 10
        state.write_bytes(bytes(raw))
        answered_before = server.stats()["answered"]
        resumed = run_cli(victim_args(tmp_path), cli_env(server))
        duplicates = duplicate_answers(server)
        answered = server.stats()["answered"] - answered_before
    assert resumed.returncode == 0, resumed.stderr
    assert "state.pkl is unusable (checksum mismatch" in resumed.stderr
    assert "replaying" in resumed.stderr
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])
    assert duplicates <= 8  # only the calls in flight at the kill
    assert answered < reference["server"]["answered"] / 2


def test_tampered_state_pkl_never_runs_its_payload(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 0)
        folder = tmp_path / "victim" / "checkpoints"
        body = pickle.dumps(TouchFile(marker))
        header = {"format": 1, "seq": 99, "sha256": sha256_bytes(body), "created": time.time()}
        (folder / "state.pkl").write_bytes(json.dumps(header).encode() + b"\n" + body)
        latest = read_checked_json(folder / "latest.json")
        latest.update(state_sha256=header["sha256"], state_seq=99)
        write_checked_json(folder / "latest.json", latest)
        resumed = run_cli(victim_args(tmp_path), cli_env(server))
    assert resumed.returncode == 2
    assert "disallowed object 'posix.system'" in resumed.stderr
    assert "mv " in resumed.stderr and "Traceback" not in resumed.stderr
    assert not marker.exists()


def test_garbled_journal_is_one_clear_line(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 0)
        journal = tmp_path / "victim" / "journal.sqlite"
        for extra in tmp_path.joinpath("victim").glob("journal.sqlite-*"):
            extra.unlink()
        journal.write_bytes(os.urandom(4096))
        resumed = run_cli(victim_args(tmp_path), cli_env(server))
    assert resumed.returncode == 2
    assert "is not a usable journal" in resumed.stderr and "mv " in resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert (tmp_path / "victim" / "checkpoints" / "state.pkl").exists()


def test_a_state_pkl_of_allowed_types_but_the_wrong_shape_is_rebuilt(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    from evoprompt.checkpoint.state import ExperimentState

    with FakeLLMServer() as server:
        kill_after_generation(server, tmp_path, 1)
        wrong = ExperimentState("victim", {}, population="oops", generation=1)  # type: ignore[arg-type]
        body = pickle.dumps(wrong)
        header = {"format": 1, "seq": 99, "sha256": sha256_bytes(body), "created": 0.0}
        state = tmp_path / "victim" / "checkpoints" / "state.pkl"
        state.write_bytes(json.dumps(header).encode() + b"\n" + body)
        resumed = run_cli(victim_args(tmp_path), cli_env(server))
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert "state.pkl is unusable (it has the wrong shape)" in resumed.stderr
    assert outcome(summary(tmp_path, "victim")) == outcome(reference["summary"])
