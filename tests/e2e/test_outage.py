"""An unattended run rides out an endpoint outage: every call pauses, the endpoint is probed,
and the run goes on when it is back, ending with the uninterrupted result. An endpoint never
reached still fails fast."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import (
    FAST_RETRY,
    SMALL,
    cli_env,
    make_server,
    outcome,
    run_cli,
    start_cli,
    summary,
    wait_for,
)

OUTAGE_S = 5.0  # the 60 s outage, scaled down with the retry delays


def test_an_outage_mid_run_is_ridden_out_with_the_identical_result(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    server = make_server()
    try:
        args = [*SMALL, *FAST_RETRY, "--result-dir", str(tmp_path), "--experiment-id", "away"]
        proc = start_cli([*args, "--max-outage", "120"], cli_env(server))
        wait_for((tmp_path / "away" / "checkpoints" / "gen1_batch0.json").exists, timeout=60)
        server.set_faults(down=True)
        time.sleep(OUTAGE_S)
        down_requests = server.stats().get("status_503", 0)
        server.set_faults(down=False)
        _, stderr = proc.communicate(timeout=120)
    finally:
        server.stop()
    assert proc.returncode == 0, stderr
    assert down_requests > 0, "the outage began before the run finished"
    assert "all calls paused, probe 1" in stderr
    # probed cheaply (the model list), one probe at a time, and counted
    counts = server.stats()
    assert counts["models"] >= 1 and counts["peak_models_inflight"] == 1
    doc = summary(tmp_path, "away")
    assert doc["status"] == "finished"
    assert outcome(doc) == outcome(reference["summary"])
    assert doc["api_stats"]["outage_probes"] == counts["models"]
    assert doc["api_stats"]["failed"] == 0  # every call paused by the outage was answered


def test_an_endpoint_never_reached_still_fails_fast(tmp_path: Path) -> None:
    server = make_server(down=True)
    try:
        started = time.monotonic()
        done = run_cli(
            [*SMALL, *FAST_RETRY, "--result-dir", str(tmp_path), "--experiment-id", "never"],
            cli_env(server),
            timeout=60,
        )
        took = time.monotonic() - started
    finally:
        server.stop()
    assert done.returncode == 75, done.stderr
    assert "kept failing: HTTP 503" in done.stderr
    assert "paused" not in done.stderr
    assert took < 10
