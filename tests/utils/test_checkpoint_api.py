"""The programmatic API of spec section 6: real files in tmp_path, real flaky functions."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import pickle
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import pytest

from evoprompt.checkpoint.safe_pickle import UnsafePickle, safe_loads
from evoprompt.checkpoint.state import ExperimentState, Individual
from evoprompt.checkpoint.store import CheckpointStore, Position, decode_state, encode_state
from evoprompt.cli.inspect import main as inspect_main
from evoprompt.llm.errors import FatalError, TransientError
from evoprompt.utils.checkpoint import (
    CheckpointManager,
    ExperimentRecovery,
    RetryManager,
    is_transient,
    with_retry,
)

POPULATION = [{"text": "Classify it.", "fitness": 0.5}, {"text": "Label it.", "fitness": 0.75}]


def save(manager: CheckpointManager, generation: int, batch_idx: int = 0) -> int | None:
    return manager.save_checkpoint(
        generation=generation,
        batch_idx=batch_idx,
        population=[{**p, "generation": generation} for p in POPULATION],
        best_results={"best_fitness": 0.75, "best_prompt": "Label it."},
        metadata={"note": f"gen {generation}"},
    )


# -- CheckpointManager -----------------------------------------------------------------------


def test_save_writes_the_spec_files_and_loads_back(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "exp", auto_save=True)
    save(manager, 1, 5)
    folder = tmp_path / "exp" / "checkpoints"
    assert {p.name for p in folder.iterdir()} == {"latest.json", "state.pkl", "gen1_batch0.json"}
    save(manager, 2)
    assert (folder / "backup.json").exists() and (folder / "gen2_batch0.json").exists()

    state = CheckpointManager(tmp_path / "exp").load_full_state()
    assert state is not None
    assert (state["generation"], state["batch_idx"], state["source"]) == (2, 0, "latest.json")
    assert state["full_state"] is True
    assert state["population"][0] == {"text": "Classify it.", "fitness": 0.5, "generation": 2}
    assert state["best_results"]["best_prompt"] == "Label it."
    assert state["metadata"] == {"note": "gen 2", "stage": "generation_2_batch_0"}
    assert state["checkpoint"]["best_fitness"] == 0.75
    assert state["checkpoint"]["num_individuals"] == 2
    assert state["notes"] == []


def test_state_payload_is_admitted_by_the_allow_list_unpickler(tmp_path: Path) -> None:
    save(CheckpointManager(tmp_path), 3)
    header, payload = decode_state(tmp_path / "checkpoints" / "state.pkl")
    assert isinstance(payload, dict) and payload["generation"] == 3
    body = (tmp_path / "checkpoints" / "state.pkl").read_bytes().partition(b"\n")[2]
    assert safe_loads(body) == payload
    assert header["seq"] >= 1


def test_corrupt_latest_falls_back_to_backup(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    save(manager, 1)
    save(manager, 2)
    latest = tmp_path / "checkpoints" / "latest.json"
    latest.write_bytes(latest.read_bytes()[:40])  # truncated

    state = CheckpointManager(tmp_path).load_full_state()
    assert state is not None
    assert state["source"] == "backup.json"
    assert state["checkpoint"]["generation"] == 1
    assert any("latest.json is unusable" in n for n in state["notes"])
    # state.pkl verifies itself and is newer than backup.json: it is what gets loaded.
    assert state["full_state"] and state["generation"] == 2
    assert any("does not match backup.json" in n for n in state["notes"])


def test_corrupt_state_gives_partial_recovery_from_backup(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    save(manager, 1, 4)
    save(manager, 2)
    folder = tmp_path / "checkpoints"
    (folder / "latest.json").write_text("{ garbage")
    blob = bytearray((folder / "state.pkl").read_bytes())
    blob[-3] ^= 0xFF
    (folder / "state.pkl").write_bytes(bytes(blob))

    state = manager.load_full_state()
    assert state is not None
    assert (state["source"], state["generation"], state["batch_idx"]) == ("backup.json", 1, 4)
    assert state["full_state"] is False and state["population"] is None
    assert any("state.pkl is unusable" in n for n in state["notes"])
    assert any("partial recovery" in n for n in state["notes"])


def test_both_descriptors_corrupt_fall_back_to_newest_history(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    for generation in (1, 2, 3):
        save(manager, generation)
    folder = tmp_path / "checkpoints"
    (folder / "latest.json").write_text("")
    (folder / "backup.json").unlink()
    (folder / "gen3_batch0.json").write_text("{}")
    state = manager.load_full_state()
    assert state is not None and state["source"] == "gen2_batch0.json"


def test_numpy_values_round_trip(tmp_path: Path) -> None:
    scores = np.linspace(0, 1, 5)
    CheckpointManager(tmp_path).save_checkpoint(
        generation=0, population=[{"scores": scores}], best_results={"best_fitness": np.float64(1)}
    )
    state = CheckpointManager(tmp_path).load_full_state()
    assert state is not None and np.array_equal(state["population"][0]["scores"], scores)
    assert state["checkpoint"]["best_fitness"] == 1.0


def test_sequence_numbers_continue_across_managers(tmp_path: Path) -> None:
    first = save(CheckpointManager(tmp_path), 1)
    second = save(CheckpointManager(tmp_path), 2)
    assert first is not None and second is not None and second > first


def test_inadmissible_state_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    with pytest.raises(TypeError, match=r"not allowed in state\.pkl"):
        manager.save_checkpoint(generation=0, population=[Path("x")])
    with pytest.raises(TypeError, match="metadata must be JSON"):
        manager.save_checkpoint(generation=0, population=[], metadata={"when": object()})
    assert not (tmp_path / "checkpoints").exists()


def test_auto_save_off_writes_nothing(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, auto_save=False)
    assert save(manager, 1) is None
    assert not (tmp_path / "checkpoints").exists()
    assert manager.load_full_state() is None


def test_tampered_state_is_refused_not_run(tmp_path: Path) -> None:
    save(CheckpointManager(tmp_path), 1)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {marker}",))

    (tmp_path / "checkpoints" / "state.pkl").write_bytes(encode_state(Evil(), 99))
    with pytest.raises(UnsafePickle):
        CheckpointManager(tmp_path).load_full_state()
    assert not marker.exists()


# -- ExperimentRecovery ----------------------------------------------------------------------


def test_recovery_of_an_empty_folder(tmp_path: Path) -> None:
    recovery = ExperimentRecovery(tmp_path / "nothing")
    assert recovery.can_recover() is False
    assert recovery.recover_experiment() is None


def test_recovery_reports_cursor_source_and_notes(tmp_path: Path) -> None:
    save(CheckpointManager(tmp_path), 4, 2)
    recovery = ExperimentRecovery(tmp_path)
    assert recovery.can_recover()
    found = recovery.recover_experiment()
    assert found is not None
    assert (found["generation"], found["batch_idx"], found["source"]) == (4, 2, "latest.json")
    assert found["notes"] == [] and found["full_state"]


def test_recovery_of_a_runner_checkpoint(tmp_path: Path) -> None:
    """A checkpoint the engine wrote (an ExperimentState) is understood as well."""
    state = ExperimentState.new("exp", seed=1)
    state.population = [Individual("a", 0.25, 0), Individual("b", 0.5, 0)]
    state.generation = 0
    stage = {"stage": "generation_0_complete", "completed_generation": 0}
    CheckpointStore(tmp_path).save_state(state, Position(1, 0, stage))
    found = ExperimentRecovery(tmp_path).recover_experiment()
    assert found is not None and found["full_state"]
    assert (found["generation"], found["batch_idx"]) == (1, 0)
    assert found["best_results"]["best_prompt"] == "b"
    assert found["state"].population == state.population


# -- RetryManager / with_retry ---------------------------------------------------------------


class Flaky:
    """Fails with ``error`` on the first ``failures`` calls, then returns the call number."""

    def __init__(self, failures: int, error: type[BaseException] | BaseException):
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error if isinstance(self.error, BaseException) else self.error("boom")
        return self.calls

    async def run(self) -> int:
        await asyncio.sleep(0)
        return self()


TRANSIENT: list[BaseException] = [
    ConnectionError("reset"),
    TimeoutError("slow"),
    TransientError("HTTP 503"),
    httpx.ConnectError("refused"),
    httpx.ReadTimeout("read timed out"),
    aiohttp.ServerDisconnectedError(),
    aiohttp.ClientPayloadError("truncated body"),
]
FATAL: list[BaseException] = [
    ValueError("bug"),
    FatalError("authentication failed (HTTP 401)", hint="check the key", status=401),
    KeyError("x"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_failures_are_retried_until_success(error: BaseException) -> None:
    flaky = Flaky(2, error)
    assert RetryManager(max_retries=3, base_delay=0).retry_with_backoff(flaky) == 3
    assert flaky.calls == 3
    assert is_transient(error)


@pytest.mark.parametrize("error", FATAL, ids=lambda e: type(e).__name__)
def test_other_failures_raise_at_once(error: BaseException) -> None:
    flaky = Flaky(5, error)
    with pytest.raises(type(error)):
        RetryManager(max_retries=5, base_delay=0).retry_with_backoff(flaky)
    assert flaky.calls == 1
    assert not is_transient(error)


@pytest.mark.parametrize("max_retries", [1, 2, 4])
def test_attempts_never_exceed_max_retries(max_retries: int) -> None:
    flaky = Flaky(100, ConnectionError)
    with pytest.raises(ConnectionError):
        RetryManager(max_retries=max_retries, base_delay=0).retry_with_backoff(flaky)
    assert flaky.calls == max_retries


def test_async_functions_are_retried_too() -> None:
    flaky = Flaky(2, TransientError("HTTP 500"))
    manager = RetryManager(max_retries=3, base_delay=0)
    assert asyncio.run(manager.retry_with_backoff(flaky.run)) == 3
    always = Flaky(100, TimeoutError)
    with pytest.raises(TimeoutError):
        asyncio.run(manager.retry_with_backoff(always.run))
    assert always.calls == 3
    fatal = Flaky(100, ValueError)
    with pytest.raises(ValueError):
        asyncio.run(manager.retry_with_backoff(fatal.run))
    assert fatal.calls == 1


def test_arguments_are_passed_through() -> None:
    seen: list[tuple[int, str]] = []

    def record(a: int, *, b: str) -> str:
        seen.append((a, b))
        if len(seen) < 2:
            raise ConnectionError("again")
        return f"{a}{b}"

    assert RetryManager(max_retries=2, base_delay=0).retry_with_backoff(record, 1, b="x") == "1x"
    assert seen == [(1, "x"), (1, "x")]


def test_decorator_on_sync_and_async_functions() -> None:
    flaky = Flaky(1, ConnectionError)

    @with_retry(max_retries=2, base_delay=0)
    def call() -> int:
        """Docstring kept."""
        return flaky()

    assert call() == 2 and flaky.calls == 2
    assert call.__name__ == "call" and call.__doc__ == "Docstring kept."

    async_flaky = Flaky(3, httpx.ReadTimeout("t"))

    @with_retry(max_retries=3, base_delay=0)
    async def acall() -> int:
        return await async_flaky.run()

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(acall())
    assert async_flaky.calls == 3


def test_waits_back_off_and_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    waits: list[tuple[int, int, float]] = []
    manager = RetryManager(
        max_retries=4, base_delay=0.01, on_retry=lambda n, m, _r, s: waits.append((n, m, s))
    )
    with caplog.at_level(logging.WARNING, logger="evoprompt.retry"):
        assert manager.retry_with_backoff(Flaky(3, TransientError("HTTP 502"))) == 4
    assert [(n, m) for n, m, _ in waits] == [(1, 4), (2, 4), (3, 4)]
    for (n, _, seconds), base in zip(waits, (0.01, 0.02, 0.04)):
        assert base <= seconds <= base * 1.1 + 1e-9, n
    assert "API call failed (attempt 1/4): HTTP 502; retrying in 0.0s" in caplog.text


def test_linear_strategy_and_retry_after() -> None:
    waits: list[float] = []
    linear = RetryManager(
        max_retries=3, base_delay=0.01, strategy="linear", on_retry=lambda *a: waits.append(a[3])
    )
    linear.retry_with_backoff(Flaky(2, ConnectionError))
    assert all(0.01 <= w <= 0.011 for w in waits) and len(waits) == 2

    waits.clear()
    hinted = RetryManager(max_retries=2, base_delay=5, on_retry=lambda *a: waits.append(a[3]))
    hinted.retry_with_backoff(Flaky(1, TransientError("429", retry_after=0.02)))
    assert waits == [0.02]  # Retry-After replaces the (much longer) computed wait


def test_bad_settings_and_misuse_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryManager(max_retries=0)
    with pytest.raises(ValueError):
        RetryManager(strategy="fibonacci")

    async def coro() -> int:
        return 1

    with pytest.raises(TypeError, match="pass the async function itself"):
        RetryManager(base_delay=0).retry_with_backoff(lambda: coro())


def test_pickled_payload_contains_no_project_classes(tmp_path: Path) -> None:
    """The facade's state is plain builtins: loadable without importing evoprompt classes."""
    save(CheckpointManager(tmp_path), 1)
    body = (tmp_path / "checkpoints" / "state.pkl").read_bytes().partition(b"\n")[2]
    assert b"evoprompt.core" not in body
    assert pickle.loads(body)["generation"] == 1


def test_folders_written_by_the_manager_pass_verify_status_and_report(tmp_path: Path) -> None:
    """The inspection commands accept what the programmatic API writes (no config.json, no
    journal, a manager payload in state.pkl) and still catch a damaged file in it."""
    exp = tmp_path / "manual"
    manager = CheckpointManager(exp)
    for generation in range(3):
        manager.save_checkpoint(
            generation=generation,
            population=[{**p, "generation": generation} for p in POPULATION],
            best_results={"best_fitness": 0.75},
            metadata={"stage": f"generation_{generation}_complete"},
        )
    out = io.StringIO()
    with redirect_stdout(out):
        assert inspect_main(["verify", "manual", "--result-dir", str(tmp_path)]) == 0
        assert inspect_main(["status", "manual", "--result-dir", str(tmp_path)]) == 0
        assert (
            inspect_main(["report", "manual", "--result-dir", str(tmp_path), "--format", "md"]) == 0
        )
    text = out.getvalue()
    assert "manual: all 6 files verified" in text  # latest, backup, state, 3 history copies
    assert "BAD" not in text and (exp / "report.md").is_file()

    history = exp / "checkpoints" / "gen1_batch0.json"
    history.write_text(history.read_text().replace('"generation": 1', '"generation": 7'))
    with redirect_stdout(io.StringIO()) as bad:
        assert inspect_main(["verify", "manual", "--result-dir", str(tmp_path)]) == 1
    assert "BAD  checkpoints/gen1_batch0.json" in bad.getvalue()
