"""The CLI against endpoints lacking features: it adapts where it can, else stops with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FAST_RETRY, cli_env, make_server, run_cli, summary

LOGLIK = ["--scorer", "loglik", "--population-size", "4", "--max-generations", "1"]
LOGLIK += ["--dev-size", "16", "--seed", "3", *FAST_RETRY]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("faults", "mode"),
    [({"refuse_lists": True}, "echo_single"), ({"refuse_echo": True}, "chat_top")],
)
def test_loglik_runs_on_what_the_endpoint_offers(
    tmp_path: Path, faults: dict[str, bool], mode: str
) -> None:
    server = make_server(**faults)
    try:
        done = run_cli(
            [*LOGLIK, "--result-dir", str(tmp_path), "--experiment-id", "x"], cli_env(server)
        )
        status = run_cli(["status", "x", "--result-dir", str(tmp_path)], cli_env(None))
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert summary(tmp_path, "x")["status"] == "finished"
    assert f"loglik:      {mode}" in status.stdout
    assert "Concurrency: learned" in status.stdout


def test_an_endpoint_without_logprobs_stops_with_one_line_and_exit_2(tmp_path: Path) -> None:
    server = make_server(refuse_echo=True, no_chat_logprobs=True)
    try:
        done = run_cli(
            [*LOGLIK, "--result-dir", str(tmp_path), "--experiment-id", "x"], cli_env(server)
        )
    finally:
        server.stop()
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "--scorer generate" in errors[0]
    assert "Traceback" not in done.stderr
