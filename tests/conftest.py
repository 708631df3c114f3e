"""Shared fixtures: the fault-injecting endpoint and helpers that run the real CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.seal import KEY_ENV
from evoprompt.testing.server import FakeLLMServer, Faults

ROOT = Path(__file__).resolve().parents[1]
# The key that signs result folders: one per test session, never the user's real one (the
# state folder too, in case a test builds an environment without the variable).
STATE_DIR = Path(tempfile.mkdtemp(prefix="evoprompt-state-"))
os.environ["XDG_STATE_HOME"] = str(STATE_DIR)
os.environ[KEY_ENV] = str(STATE_DIR / "evoprompt" / "folder.key")
SMALL = ["--population-size", "6", "--max-generations", "3", "--dev-size", "64", "--seed", "7"]
FAST_RETRY = ["--retry-delay", "0.01", "--max-retry-wait", "0.05"]
# After Ctrl+C, how long calls on the wire may take to land; set explicitly for every CLI run
# so tests that bound the stop time do not depend on the default.
STOP_GRACE_S = 2.0
# Experiments written before JSON documents carried a format version (see make_format_v1.sh).
FORMAT_V1 = ROOT / "tests" / "fixtures" / "format_v1"


# Under pytest-xdist, files carrying these markers are handed out first, heaviest first (make
# test passes --no-loadscope-reorder, which keeps this order): with --dist loadfile a file
# runs whole on one worker, and xdist's own order (most tests first) left the llama.cpp files,
# a few tests and minutes each, to the end, run on one worker while the other sat idle.
HEAVY_FIRST = ("llama_server", "local_model", "ray", "mlflow", "slow")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not an xdist worker: the usual order
        return

    def weight(item: pytest.Item) -> int:
        marks = {m.name for m in item.iter_markers()}
        return next((i for i, name in enumerate(HEAVY_FIRST) if name in marks), len(HEAVY_FIRST))

    by_file: dict[Path, int] = {}
    for item in items:
        by_file[item.path] = min(by_file.get(item.path, len(HEAVY_FIRST)), weight(item))
    items.sort(key=lambda item: by_file[item.path])  # stable: a file's tests keep their order


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def make_server(**faults: Any) -> FakeLLMServer:
    return FakeLLMServer(faults=Faults(**faults)).start()


def cli_env(server: FakeLLMServer | None, key: str = "sk-test") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EVOPROMPT_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["EVOPROMPT_STOP_GRACE_S"] = str(STOP_GRACE_S)
    env[KEY_ENV] = os.environ[KEY_ENV]
    if server is not None:
        env.update(OPENAI_API_KEY=key, OPENAI_BASE_URL=server.url)
    return env


def resumes_with(exp_id: str, text: str) -> bool:
    """Whether ``text`` prints the resume command of ``exp_id`` (the interpreter is named as
    it runs: ``.venv/bin/python`` from a virtual environment; tests/e2e pastes it for real)."""
    pattern = rf"Resume with: \S*python\S* main\.py --experiment-id {re.escape(exp_id)}(\s|$)"
    return re.search(pattern, text) is not None


def run_printed(
    err: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the command a stopped run printed after "Resume with: " as a user pastes it: split
    by a shell's rules and run in the same folder."""
    command = next(line for line in err.splitlines() if "Resume with: " in line)
    argv = shlex.split(command.split("Resume with: ", 1)[1])
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def main_cmd(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), *args]


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        main_cmd(*args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kw
    )


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        main_cmd(*args),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def summary(result_dir: Path, exp_id: str) -> dict[str, Any]:
    return json.loads((result_dir / exp_id / "summary.json").read_text())


def outcome(doc: dict[str, Any]) -> dict[str, Any]:
    """The parts of a summary that must be identical between equivalent runs."""
    return {
        "best_prompt": doc["best_prompt"],
        "best_fitness": doc["best_fitness"],
        "generations": [
            (g["generation"], g["best_fitness"], g["mean_fitness"], g["best_prompt"])
            for g in doc["generations"]
        ],
        "population": doc["population"],
    }


def victim_args(result_dir: Path, exp_id: str = "victim", *extra: str) -> list[str]:
    """The SMALL run with fast retries, in ``result_dir/exp_id``."""
    return [*SMALL, *FAST_RETRY, "--result-dir", str(result_dir), "--experiment-id", exp_id, *extra]


def duplicate_answers(server: FakeLLMServer) -> int:
    """Requests the endpoint answered more than once (paid twice)."""
    return sum(n - 1 for n in server.answered_bodies.values())


def kill_after_generation(server: FakeLLMServer, result_dir: Path, generation: int) -> None:
    """Run until generation ``generation`` is checkpointed, then SIGKILL the process."""
    proc = start_cli(victim_args(result_dir), cli_env(server))
    history = result_dir / "victim" / "checkpoints" / f"gen{generation}_batch0.json"
    wait_for(history.exists, timeout=60)
    proc.kill()
    proc.wait()


class TouchFile:
    """Pickles to ``os.system("touch marker")``: what an attacker would put into state.pkl."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def wait_for(predicate: Any, timeout: float = 30.0, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The uninterrupted GA run every resume test compares against (fault-free endpoint)."""
    result_dir = tmp_path_factory.mktemp("reference")
    with FakeLLMServer() as fake:
        done = run_cli(
            [*SMALL, *FAST_RETRY, "--result-dir", str(result_dir), "--experiment-id", "ref"],
            cli_env(fake),
        )
        stats = fake.stats()
    assert done.returncode == 0, done.stderr
    return {"summary": summary(result_dir, "ref"), "server": stats}


@pytest.fixture
def v1_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of FORMAT_V1's result folder, used with the key that signed it (the same user
    after an upgrade)."""
    shutil.copytree(FORMAT_V1 / "results", tmp_path / "results", symlinks=True)
    key = tmp_path / "state" / "folder.key"
    key.parent.mkdir()
    shutil.copy(FORMAT_V1 / "folder.key", key)
    key.chmod(0o600)
    monkeypatch.setenv(KEY_ENV, str(key))
    return tmp_path / "results"
