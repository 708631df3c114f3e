"""Against a server nobody here wrote: llama-cpp-python's ``llama_cpp.server`` on the embedded
Gemma GGUF, behind a counting proxy (every answered request body, and how often).

One scenario a file, each file starting its own server: ``--dist loadfile`` keeps a file on
one worker, and the scenarios take minutes each on 2 cores, so together in one file they held
the whole suite open on one worker. Kept small for 2 cores. Every test here is marked
``llama_server`` and skipped where ``llama-cpp-python[server]`` is not installed (it is in the
``test`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli_env, main_cmd, run_cli, wait_for
from tests.e2e.llama.proxy import CountingProxy

# Found, not imported: importing llama_cpp loads its own libggml into the test process, and the
# embedded backend's llama.cpp (tests/llm/test_local.py) would then bind to the wrong one.
INSTALLED = importlib.util.find_spec("llama_cpp") is not None
NOT_INSTALLED = "needs pip install 'llama-cpp-python[server]'"

TINY = ["--population-size", "2", "--max-generations", "1", "--seed", "5", "--model", "gemma"]
# A timeout long enough that no request is abandoned while queued (the server would go on
# computing it, and the counting proxy would see its answer once more on the retry).
TINY += ["--timeout", "600", "--retry-delay", "0.5", "--max-retry-wait", "2"]
# No held-out phase: these check the endpoint's compatibility, and each echo request takes
# seconds on llama.cpp (a default 500-row test phase would take hours).
TINY += ["--test-size", "0"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.llama_server)
            item.add_marker(pytest.mark.timeout(900))
            if not INSTALLED:
                item.add_marker(pytest.mark.skip(reason=NOT_INSTALLED))


class LlamaServer:
    """``python -m llama_cpp.server`` on a fixed port, so a restart comes back at the same URL."""

    def __init__(self) -> None:
        from evoprompt.llm.gemma_files import ensure_model

        self.model = ensure_model()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--model", str(self.model), "--port", str(self.port), "--n_ctx", "1024"]
        args += ["--n_threads", "2", "--verbose", "False"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, timeout=120, step=0.2)

    def _up(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/v1/models"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    server = LlamaServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def proxy(llama: LlamaServer) -> Iterator[CountingProxy]:
    counting = CountingProxy(llama.port)
    try:
        yield counting
    finally:
        counting.stop()


def env(proxy: CountingProxy) -> dict[str, str]:
    found = cli_env(None)
    found.update(OPENAI_BASE_URL=proxy.url, OPENAI_API_KEY="none")
    return found


def never_twice(proxy: CountingProxy, killed_at: float = float("inf")) -> None:
    """No answered body was answered again. With a run killed at ``killed_at``, the requests
    on the wire then are exempt: the server finished them for a dead client, whose journal
    never got them (the second before the kill too: an answer may be on its way in)."""
    repeated = [
        json.loads(b)
        for b, n in proxy.answered.items()
        if n > 1 and proxy.first_answered[b] < killed_at - 1.0
    ]
    assert not repeated, f"answered twice: {repeated[:2]}"


def killed_and_resumed(proxy: CountingProxy, args: list[str], answered: int, wait: float) -> float:
    """Start a run, SIGKILL it once the server has answered ``answered`` requests (within
    ``wait`` seconds), run the same command again to its end; the moment of the kill, for
    :func:`never_twice`."""
    run = subprocess.Popen(
        main_cmd(*args), env=env(proxy), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for(lambda: sum(proxy.answered.values()) >= answered, timeout=wait, step=0.1)
    run.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    run.wait()
    done = run_cli(args, env(proxy), timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    return killed_at
