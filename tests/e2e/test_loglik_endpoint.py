"""Log-likelihood scoring against an endpoint that answers one label per request and serves
one request at a time (llama.cpp's server, played by the test endpoint's ``serial`` and
``refuse_lists`` faults): every answer is journaled as it arrives, a kill -9 costs only what
was on the wire, and a server slower than the timeout is waited for, not sent the same
request again."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import (
    FAST_RETRY,
    cli_env,
    make_server,
    outcome,
    run_cli,
    start_cli,
    summary,
    wait_for,
)

TINY = ["--scorer", "loglik", "--population-size", "4", "--max-generations", "2"]
TINY += ["--dev-size", "8", "--test-size", "0", "--seed", "7", *FAST_RETRY]
SETTLE_S = 1.0  # a held server answers nothing: answers already received land in the journal


def args(result_dir: Path, *extra: str) -> list[str]:
    return [*TINY, "--result-dir", str(result_dir), "--experiment-id", "ll", *extra]


def answers_by_body(server: FakeLLMServer) -> dict[str, list[float]]:
    """When each completion request body was answered (monotonic times, in order)."""
    found: dict[str, list[float]] = {}
    for _, answered, body in server.answered_log:
        found.setdefault(body, []).append(answered)
    return found


def hold_and_kill(server: FakeLLMServer, proc: subprocess.Popen[str], calls: int) -> float | None:
    """Once the endpoint answered ``calls`` more requests, a fixed moment: it answers nothing
    more, what it answered lands in the journal, then kill -9; the held requests are then
    answered for nobody (as llama.cpp finishes a request whose client is gone). The moment of
    the kill, or None when the run finished first."""
    target = server.stats().get("answered", 0) + calls
    wait_for(lambda: proc.poll() is not None or server.stats().get("answered", 0) >= target)
    if proc.poll() is not None:
        return None
    server.set_faults(hold=True)
    time.sleep(SETTLE_S)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.monotonic()
    server.set_faults(hold=False)
    return killed


def test_kill_9_mid_scoring_re_sends_only_what_was_on_the_wire(tmp_path: Path) -> None:
    with FakeLLMServer() as fast:
        fast.set_faults(refuse_lists=True)
        done = run_cli(args(tmp_path / "ref"), cli_env(fast))
        assert done.returncode == 0, done.stderr
    reference = summary(tmp_path / "ref", "ll")
    assert json.loads((tmp_path / "ref/ll/endpoint.json").read_text())["loglik"] == "echo_single"
    server = make_server(serial=True, refuse_lists=True, latency=0.01)
    chooser = random.Random(36)
    kills: list[float] = []
    try:
        env = cli_env(server)
        while len(kills) < 6:
            killed = hold_and_kill(server, start_cli(args(tmp_path), env), chooser.randint(3, 40))
            if killed is None:
                break  # finished before this kill
            kills.append(killed)
        final = run_cli(args(tmp_path), env)
        assert final.returncode == 0, final.stderr
    finally:
        server.stop()
    assert len(kills) >= 3
    assert outcome(summary(tmp_path, "ll")) == outcome(reference)
    # An answer asked again was one on the wire at a kill: first answered after that kill, to
    # a dead client. One received before a kill is journaled and never asked again.
    twice = {body: times for body, times in answers_by_body(server).items() if len(times) > 1}
    received_then_asked = [
        json.loads(body)["prompt"][-60:]
        for body, times in twice.items()
        if not any(times[0] > kill for kill in kills)
    ]
    assert received_then_asked == [], f"{len(received_then_asked)}: {received_then_asked[:3]}"
    assert twice, "no kill caught a request on the wire"


def test_a_serial_server_slower_than_the_timeout_is_waited_for_never_sent_twice(
    tmp_path: Path,
) -> None:
    """Ten requests queued at a server that serves one at a time take longer than the timeout
    (10 x 0.2 s against 1 s): the client learns the server's pace for each kind of request
    from its first answer and waits for the queue rather than abandon a request the server
    will still compute and send it again; every request the server saw is in api_stats."""
    server = make_server(serial=True, refuse_lists=True, latency=0.2)
    try:
        done = run_cli(
            args(tmp_path, "--timeout", "1", "--population-size", "2", "--max-generations", "1"),
            cli_env(server),
            timeout=300,
        )
        counts = server.stats()
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    stats = summary(tmp_path, "ll")["api_stats"]
    assert counts.get("resent_in_flight", 0) == 0
    assert stats["requests"] == counts["seen"]
    assert stats["resent_requests"] == 0 and stats["retried"] == 0
    assert stats["concurrency"]["limit"] == 1  # one slot, learned
