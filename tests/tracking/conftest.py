"""A real MLflow tracking server for the tracking tests: ``mlflow server`` in its own process
group on a free loopback port, a SQLite backend in a temporary folder, restartable on the same
port and store (to kill it mid-run). Every test here is marked ``mlflow`` and skipped, with
the reason, where MLflow is not installed."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
NO_MLFLOW = "MLflow is not installed (pip install 'evoprompt[test]' brings the full package)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and "mlflow" in item.keywords and not HAS_MLFLOW:
            item.add_marker(pytest.mark.skip(reason=NO_MLFLOW))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> MlflowServer:
        log = (self.folder / "server.log").open("ab")
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", "1"]
        command += ["--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}"]
        command += ["--artifacts-destination", str(self.folder / "artifacts")]
        # No job runner (its seven worker processes would take most of the start-up time).
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(
            command, stdout=log, stderr=log, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: see {self.folder}/server.log")
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL the server and its workers (its own process group)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    if not HAS_MLFLOW:
        pytest.skip(NO_MLFLOW)
    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    try:
        yield server
    finally:
        server.kill()


def client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def runs_of(uri: str, exp_id: str) -> list[Any]:
    """Every run (any experiment) tagged with this evoprompt experiment id."""
    mlflow = client(uri)
    experiments = [e.experiment_id for e in mlflow.search_experiments()]
    tagged = f"tags.`evoprompt.experiment_id` = '{exp_id}'"
    return list(mlflow.search_runs(experiments, filter_string=tagged))


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of every value logged for ``key``, in step order."""
    return sorted((m.step, m.value) for m in client(uri).get_metric_history(run_id, key))
